/* Model tests against llama.cpp goldens (scripts/golden_model.py) and
 * invariants of the batched multi-sequence API.
 *
 * usage: test_model MODE MODEL.gguf GOLDEN_DIR [TEXT]
 *   tf        teacher-forced text: same top-1 as llama.cpp at every position
 *             except near-ties (llama.cpp's top-2 gap < NEAR_TIE), max |dlogit|
 *             over llama.cpp's top-16 and over full rows below bounds
 *   greedy    128-token greedy continuations identical to llama.cpp on >= 5 prompts
 *   ppl       perplexity within 0.5 % of llama.cpp's (same chunking)
 *   batch     3 sequences in one batch == each sequence alone
 *   kvrm      remove a KV range and re-evaluate == never evaluated; seq_cp shares a prefix
 *   routes    (AVX-512 tier) one batch == one token at a time == general pass == gathered == chunks
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "quant/quant.h"
#include "smelt/model.h"

#define NEAR_TIE 0.05f
#define MAX_DLOGIT_TOP 0.01f
#define MAX_DLOGIT_FULL 0.01f
/* SMELT_TEST_TOLERANT=1 (the AVX-512 tier, which does not follow llama.cpp's
 * summation orders): on these small quantized models a different float order
 * flips the rounding of some quantized activations, and the flips compound
 * over the layers (the generic C tier shows the same spread), so the checks
 * become: top-1 agreement except near-ties on >= 97% of positions, mean
 * |dlogit| over the top 16 <= TOL_MEAN_DLOGIT, greedy continuations identical
 * or diverging only where llama.cpp's pick is within TOL_GREEDY_GAP of smelt's
 * best, perplexity within 0.5% as before. */
#define TOL_MEAN_DLOGIT 0.3
#define TOL_GREEDY_GAP 0.5f
static bool g_tolerant;

static struct smelt_model *g_model;

static struct smelt_ctx *new_ctx(int32_t n_ctx, int32_t n_batch) {
    struct smelt_ctx_params p;
    smelt_ctx_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    struct smelt_ctx *c = NULL;
    if (smelt_ctx_new(g_model, &p, &c)) {
        fprintf(stderr, "ctx: %s\n", smelt_last_error());
        exit(1);
    }
    return c;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (regenerate goldens with scripts/golden_model.py)\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) exit(1);
    b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

/* parse space-separated ints from s until end of line; returns count */
static int parse_ints(const char *s, int32_t *out, int cap, const char **end) {
    int n = 0;
    char *e;
    while (*s && *s != '\n') {
        long v = strtol(s, &e, 10);
        if (e == s) break;
        if (n < cap) out[n] = (int32_t)v;
        n++;
        s = e;
        while (*s == ' ') s++;
    }
    if (end) *end = *s == '\n' ? s + 1 : s;
    return n;
}

static void eval_all(struct smelt_ctx *c, const int32_t *tok, int32_t n, int32_t seq, int32_t pos0, bool all) {
    int32_t *pos = malloc(sizeof *pos * (size_t)n), *sq = malloc(sizeof *sq * (size_t)n);
    int8_t *want = malloc((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        sq[i] = seq;
        want[i] = all || i == n - 1;
    }
    struct smelt_batch b = {.n = n, .token = tok, .pos = pos, .seq = sq, .logits = want};
    if (smelt_decode(c, &b)) {
        fprintf(stderr, "decode: %s\n", smelt_last_error());
        exit(1);
    }
    free(pos);
    free(sq);
    free(want);
}

static int32_t argmax(const float *l, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static int test_tf(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tf.txt", dir);
    char *txt = read_all(path, NULL);
    const char *s = txt;
    int32_t tok[4096];
    int n = parse_ints(s, tok, 4096, &s);
    CHECK(n == 512);
    const int32_t V = smelt_model_n_vocab(g_model);
    struct smelt_ctx *c = new_ctx(1024, 512);
    eval_all(c, tok, n, 0, 0, true);
    int mism = 0, ties = 0, first_diff = -1;
    double max_d = 0, sum_d = 0;
    long cnt = 0;
    for (int i = 0; i < n; i++) {
        int pos, top1;
        float v1, v2;
        int used;
        if (sscanf(s, "%d %d %f %f |%n", &pos, &top1, &v1, &v2, &used) != 4) {
            fprintf(stderr, "bad golden line %d\n", i);
            return 1;
        }
        s += used;
        const float *l = smelt_logits(c, i);
        for (int k = 0; k < 16; k++) {
            int id;
            float v;
            if (sscanf(s, " %d:%f%n", &id, &v, &used) != 2) return 1;
            s += used;
            double d = fabs((double)l[id] - v);
            if (d > 1e-3 && first_diff < 0) first_diff = i;
            if (d > max_d) max_d = d;
            sum_d += d;
            cnt++;
        }
        while (*s && *s != '\n') s++;
        if (*s) s++;
        int32_t mine = argmax(l, V);
        if (mine != top1) {
            if (v1 - v2 < NEAR_TIE) {
                ties++;
                printf("pos %d: near-tie (llama.cpp gap %.4f): smelt %d, llama.cpp %d\n", i, v1 - v2, mine, top1);
            } else {
                mism++;
                printf("pos %d: top-1 differs: smelt %d (%.4f), llama.cpp %d (%.4f / mine %.4f)\n", i, mine, l[mine],
                       top1, v1, l[top1]);
            }
        }
    }
    /* full rows */
    snprintf(path, sizeof path, "%s/tf_full.bin", dir);
    size_t blen;
    char *bin = read_all(path, &blen);
    static const int rows[] = {0, 1, 100, 511};
    double max_full = 0;
    CHECK(blen == sizeof rows / sizeof *rows * (size_t)V * 4);
    for (size_t r = 0; r < sizeof rows / sizeof *rows && blen >= (r + 1) * (size_t)V * 4; r++) {
        const float *ref = (const float *)(bin + r * (size_t)V * 4);
        const float *l = smelt_logits(c, rows[r]);
        for (int32_t v = 0; v < V; v++) {
            double d = fabs((double)l[v] - ref[v]);
            if (d > max_full) max_full = d;
        }
    }
    printf("teacher-forced %d positions: %d top-1 mismatches, %d near-ties; max |dlogit| top-16 %.5f (mean %.5f), "
           "full rows %.5f; first position with |dlogit| > 1e-3: %d\n",
           n, mism, ties, max_d, sum_d / cnt, max_full, first_diff);
    if (g_tolerant) {
        CHECKF(mism * 100 <= 3 * n, "%d top-1 mismatches", mism);
        CHECKF(sum_d / cnt <= TOL_MEAN_DLOGIT, "mean |dlogit| %.4f", sum_d / cnt);
    } else {
        CHECK(mism == 0);
        CHECKF(max_d < MAX_DLOGIT_TOP, "max |dlogit| %.4f", max_d);
        CHECKF(max_full < MAX_DLOGIT_FULL, "max |dlogit| full %.4f", max_full);
    }
    free(bin);
    free(txt);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

static int test_greedy(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/greedy.txt", dir);
    char *txt = read_all(path, NULL);
    const char *s = txt;
    const int32_t V = smelt_model_n_vocab(g_model);
    struct smelt_ctx *c = new_ctx(1024, 512);
    int n_prompts = 0, n_same = 0, n_near = 0;
    while (*s == 'P') {
        int32_t p[1024], g[256];
        int np = parse_ints(s + 2, p, 1024, &s);
        if (*s != 'G') return 1;
        int ng = parse_ints(s + 2, g, 256, &s);
        smelt_kv_clear(c);
        eval_all(c, p, np, 0, 0, false);
        const float *l = smelt_logits(c, np - 1);
        int diverge = -1;
        for (int i = 0; i < ng; i++) {
            int32_t t = argmax(l, V);
            if (t != g[i]) {
                diverge = i;
                n_near += l[t] - l[g[i]] < TOL_GREEDY_GAP;
                printf("  step %d: smelt picks %d (%.4f), llama.cpp picked %d (smelt gives it %.4f)\n", i, t, l[t],
                       g[i], l[g[i]]);
                break;
            }
            eval_all(c, &t, 1, 0, np + i, false);
            l = smelt_logits(c, 0);
        }
        n_prompts++;
        if (diverge < 0) n_same++;
        printf("prompt %d (%d tokens): %s\n", n_prompts, np,
               diverge < 0 ? "identical" : "diverged");
        if (diverge >= 0) printf("  first difference at generated token %d\n", diverge);
    }
    printf("greedy: %d of %d prompts identical over 128 tokens\n", n_same, n_prompts);
    CHECK(n_prompts >= 5);
    if (g_tolerant) {
        printf("greedy: %d divergences at near-ties (gap < %.2f)\n", n_near, TOL_GREEDY_GAP);
        CHECKF(n_same + n_near == n_prompts, "%d prompts diverge at a clear choice", n_prompts - n_same - n_near);
    } else {
        CHECK(n_same >= 5);
    }
    free(txt);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

static int test_ppl(const char *dir, const char *textpath) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ppl.txt", dir);
    char *g = read_all(path, NULL);
    int C, chunks;
    double ref;
    if (sscanf(g, "%d %d %lf", &C, &chunks, &ref) != 3) return 1;
    size_t len;
    char *text = read_all(textpath, &len);
    const struct smelt_tok *tok = smelt_model_tok(g_model);
    int32_t *ids;
    size_t n;
    if (smelt_tok_encode(tok, text, len, true, false, &ids, &n)) {
        fprintf(stderr, "tokenize: %s\n", smelt_last_error());
        return 1;
    }
    /* the tokenizer must agree with llama.cpp's on this text (tf.txt line 1) */
    snprintf(path, sizeof path, "%s/tf.txt", dir);
    char *tf = read_all(path, NULL);
    int32_t tft[600];
    int ntf = parse_ints(tf, tft, 600, NULL);
    CHECK(n >= (size_t)ntf && !memcmp(ids, tft, sizeof *tft * (size_t)ntf));
    const int32_t V = smelt_model_n_vocab(g_model);
    struct smelt_ctx *c = new_ctx(C, C);
    double nll = 0;
    long count = 0;
    for (int k = 0; k < chunks && (size_t)(k + 1) * C <= n; k++) {
        int32_t *chunk = ids + (size_t)k * C;
        if (smelt_tok_add_bos(tok)) chunk[0] = smelt_tok_bos(tok);
        smelt_kv_clear(c);
        eval_all(c, chunk, C, 0, 0, true);
        for (int j = C / 2; j < C - 1; j++) {
            const float *l = smelt_logits(c, j);
            double mx = l[0], s = 0;
            for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < V; v++) s += exp(l[v] - mx);
            nll += mx + log(s) - l[chunk[j + 1]];
            count++;
        }
    }
    double ppl = exp(nll / count);
    double rel = fabs(ppl - ref) / ref;
    printf("perplexity: smelt %.5f, llama.cpp %.5f, relative difference %.4f %%\n", ppl, ref, rel * 100);
    CHECK(rel < 0.005);
    free(ids);
    free(text);
    free(tf);
    free(g);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

static double max_diff(const float *a, const float *b, int32_t n) {
    double m = 0;
    for (int32_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Three sequences of different lengths in one interleaved batch, against each alone. */
static int test_batch(void) {
    const int32_t V = smelt_model_n_vocab(g_model);
    int32_t seqtok[3][40];
    int32_t lens[3] = {17, 40, 29};
    uint32_t r = 12345;
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < lens[s]; i++) {
            r = r * 1103515245u + 12345u;
            seqtok[s][i] = (int32_t)((r >> 8) % (uint32_t)V);
        }
    /* alone */
    float *alone[3];
    struct smelt_ctx *c = new_ctx(256, 64);
    for (int s = 0; s < 3; s++) {
        smelt_kv_clear(c);
        eval_all(c, seqtok[s], lens[s], 0, 0, true);
        alone[s] = malloc(sizeof(float) * (size_t)V * (size_t)lens[s]);
        for (int i = 0; i < lens[s]; i++) memcpy(alone[s] + (size_t)i * V, smelt_logits(c, i), sizeof(float) * (size_t)V);
    }
    /* together: interleave entries round-robin, sequence ids 5, 0, 63, with a
     * small n_batch so the batch is split into several chunks */
    const int32_t ids[3] = {5, 0, 63};
    int32_t tok[128], pos[128], sq[128], who[128], idx[128];
    int n = 0;
    for (int i = 0; i < 40; i++)
        for (int s = 0; s < 3; s++)
            if (i < lens[s]) {
                tok[n] = seqtok[s][i];
                pos[n] = i;
                sq[n] = ids[s];
                who[n] = s;
                idx[n] = i;
                n++;
            }
    for (int nb = 0; nb < 2; nb++) {
        struct smelt_ctx *c2 = new_ctx(256, nb ? 16 : 128);
        struct smelt_batch b = {.n = n, .token = tok, .pos = pos, .seq = sq, .logits = NULL};
        int8_t want[128];
        memset(want, 1, sizeof want);
        b.logits = want;
        CHECK(smelt_decode(c2, &b) == SMELT_OK);
        double md = 0;
        for (int e = 0; e < n; e++)
            md = fmax(md, max_diff(smelt_logits(c2, e), alone[who[e]] + (size_t)idx[e] * V, V));
        printf("batched (n_batch %d) vs alone: max |dlogit| %.6f\n", nb ? 16 : 128, md);
        CHECK(md < 1e-3);
        smelt_ctx_free(c2);
    }
    for (int s = 0; s < 3; s++) free(alone[s]);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

static int test_kvrm(void) {
    const int32_t V = smelt_model_n_vocab(g_model);
    int32_t a[48], bt[16];
    uint32_t r = 777;
    for (int i = 0; i < 48; i++) a[i] = (int32_t)((r = r * 1103515245u + 12345u) >> 8) % V;
    for (int i = 0; i < 16; i++) bt[i] = (int32_t)((r = r * 1103515245u + 12345u) >> 8) % V;
    struct smelt_ctx *c = new_ctx(256, 64);
    /* reference: a[0..32) then bt */
    eval_all(c, a, 32, 0, 0, false);
    eval_all(c, bt, 16, 0, 32, true);
    float *ref = malloc(sizeof(float) * (size_t)V * 16);
    for (int i = 0; i < 16; i++) memcpy(ref + (size_t)i * V, smelt_logits(c, i), sizeof(float) * (size_t)V);
    /* evaluate a[0..48), remove [32, 48), then evaluate bt at 32 */
    smelt_kv_clear(c);
    eval_all(c, a, 48, 0, 0, false);
    CHECK(smelt_kv_seq_pos_max(c, 0) == 47);
    smelt_kv_seq_rm(c, 0, 32, -1);
    CHECK(smelt_kv_seq_pos_max(c, 0) == 31);
    CHECK(smelt_kv_used(c) == 32);
    eval_all(c, bt, 16, 0, 32, true);
    double md = 0;
    for (int i = 0; i < 16; i++) md = fmax(md, max_diff(smelt_logits(c, i), ref + (size_t)i * V, V));
    printf("rm + re-evaluate vs never evaluated: max |dlogit| %.6f\n", md);
    CHECK(md < 1e-4);
    /* seq_cp: share a[0..32) with seq 3, continue seq 3 with bt: same logits, no new cells for the prefix */
    smelt_kv_seq_rm(c, 0, 32, -1);
    smelt_kv_seq_cp(c, 0, 3, 0, -1);
    CHECK(smelt_kv_used(c) == 32);
    eval_all(c, bt, 16, 3, 32, true);
    md = 0;
    for (int i = 0; i < 16; i++) md = fmax(md, max_diff(smelt_logits(c, i), ref + (size_t)i * V, V));
    printf("seq_cp prefix + continue vs reference: max |dlogit| %.6f\n", md);
    CHECK(md < 1e-4);
    CHECK(smelt_kv_used(c) == 48);
    /* keep only seq 3: cells of seq 0 alone are gone, shared ones stay */
    smelt_kv_seq_keep(c, 3);
    CHECK(smelt_kv_used(c) == 48);
    CHECK(smelt_kv_seq_pos_max(c, 0) == -1);
    CHECK(smelt_kv_seq_pos_max(c, 3) == 47);
    /* context-full error leaves the cache unchanged */
    int32_t big[256];
    for (int i = 0; i < 256; i++) big[i] = a[i % 48];
    int32_t pos[256], sq[256];
    for (int i = 0; i < 256; i++) { pos[i] = 100 + i; sq[i] = 1; }
    struct smelt_batch b = {.n = 256, .token = big, .pos = pos, .seq = sq};
    CHECK(smelt_decode(c, &b) == SMELT_ERR_RANGE);
    CHECK(strstr(smelt_last_error(), "context full") != NULL);
    CHECK(smelt_kv_used(c) == 48);
    /* invalid entries */
    int32_t badtok = V, p0 = 0, s0 = 0, sbad = 64;
    struct smelt_batch b1 = {.n = 1, .token = &badtok, .pos = &p0, .seq = &s0};
    CHECK(smelt_decode(c, &b1) == SMELT_ERR_INVALID_ARG);
    struct smelt_batch b2 = {.n = 1, .token = a, .pos = &p0, .seq = &sbad};
    CHECK(smelt_decode(c, &b2) == SMELT_ERR_INVALID_ARG);
    free(ref);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

/* Routes that must give the same bits on the AVX-512 tier (its attention works
 * on each sequence's own cell list, and its matmuls treat every token alike):
 * a text evaluated as one batch; one token at a time (the one-token pass, which
 * reads the cache in place); the same through the general forward pass
 * (SMELT_NO_FUSED_DECODE=1); one token at a time with another sequence's cells
 * interleaved (gathered cells); chunks of 5 tokens (in place, batched); and
 * other thread counts (1 thread one at a time, 3 threads in one batch). */
static void eval_steps(struct smelt_ctx *c, const int32_t *tok, int32_t n, int32_t step, int32_t other, float *out) {
    const int32_t V = smelt_model_n_vocab(g_model);
    for (int32_t i = 0; i < n; i += step) {
        const int32_t m = n - i < step ? n - i : step;
        eval_all(c, tok + i, m, 0, i, true);
        for (int32_t j = 0; j < m; j++) memcpy(out + (size_t)(i + j) * V, smelt_logits(c, j), sizeof(float) * (size_t)V);
        if (other >= 0) eval_all(c, &tok[(i * 7 + 3) % n], 1, other, i, false); /* a cell of another sequence */
    }
}

static int test_routes(void) {
    if (strcmp(smelt_kernels_isa(), "avx512") != 0) {
        fprintf(stderr, "routes: the AVX-512 tier is not active here (%s); skipped\n", smelt_kernels_isa());
        return 77;
    }
    /* 300 tokens: several 64-cell blocks, and long enough for the one-token pass
     * to share query heads among the threads (DECODE_SPLIT_WORK) */
    const int32_t V = smelt_model_n_vocab(g_model), n = 300;
    int32_t tok[300];
    uint32_t r = 4242;
    for (int i = 0; i < n; i++) tok[i] = (int32_t)(((r = r * 1103515245u + 12345u) >> 8) % (uint32_t)V);
    const char *names[] = {"one batch",   "one at a time",           "one at a time, general pass",
                           "interleaved with seq 1", "chunks of 5", "one at a time, 1 thread",
                           "one batch, 3 threads"};
    float *res[7];
    for (int k = 0; k < 7; k++) {
        res[k] = malloc(sizeof(float) * (size_t)V * (size_t)n);
        if (k == 2) setenv("SMELT_NO_FUSED_DECODE", "1", 1);
        struct smelt_ctx_params cp;
        smelt_ctx_params_default(&cp);
        cp.n_ctx = 1024;
        cp.n_batch = 256;
        cp.n_threads = k == 5 ? 1 : k == 6 ? 3 : 2;
        struct smelt_ctx *c = NULL;
        CHECK(smelt_ctx_new(g_model, &cp, &c) == SMELT_OK);
        unsetenv("SMELT_NO_FUSED_DECODE");
        if (!c) return CHECK_EXIT();
        const int32_t step = k == 0 || k == 6 ? n : k == 4 ? 5 : 1;
        eval_steps(c, tok, n, step, k == 3 ? 1 : -1, res[k]);
        smelt_ctx_free(c);
        if (k == 0) continue;
        double md = 0;
        for (int i = 0; i < n; i++) md = fmax(md, max_diff(res[k] + (size_t)i * V, res[0] + (size_t)i * V, V));
        printf("%s vs one batch: max |dlogit| %g\n", names[k], md);
        CHECKF(md == 0, "%s differs from one batch (max |dlogit| %g)", names[k], md);
    }
    for (int k = 0; k < 7; k++) free(res[k]);
    return CHECK_EXIT();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_model MODE MODEL [GOLDEN_DIR] [TEXT]\n");
        return 2;
    }
    if (smelt_model_load(argv[2], &g_model)) {
        fprintf(stderr, "%s\n(run `smelt pull` / scripts/setup.sh to fetch the models)\n", smelt_last_error());
        return 1;
    }
    const char *tol = getenv("SMELT_TEST_TOLERANT");
    g_tolerant = tol && *tol && strcmp(tol, "0") != 0;
    if (g_tolerant && strcmp(smelt_kernels_isa(), "avx512") != 0) {
        fprintf(stderr, "tolerant mode is for the AVX-512 tier, which is not active here (%s); skipped\n",
                smelt_kernels_isa());
        smelt_model_free(g_model);
        return 77;
    }
    int rc;
    if (!strcmp(argv[1], "tf")) rc = test_tf(argv[3]);
    else if (!strcmp(argv[1], "greedy")) rc = test_greedy(argv[3]);
    else if (!strcmp(argv[1], "ppl")) rc = test_ppl(argv[3], argv[4]);
    else if (!strcmp(argv[1], "batch")) rc = test_batch();
    else if (!strcmp(argv[1], "kvrm")) rc = test_kvrm();
    else if (!strcmp(argv[1], "routes")) rc = test_routes();
    else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        rc = 2;
    }
    smelt_model_free(g_model);
    return rc;
}
