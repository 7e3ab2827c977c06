/* Architecture oracle tests: small random-weight models of each supported
 * architecture (tests/arch/golden/<name>/model.gguf) against llama.cpp's
 * outputs on them (scripts/golden_arch.py writes both).
 *
 * usage: test_arch MODE ARGS...   (MODEL defaults to DIR/model.gguf)
 *   tf DIR MAX [MODEL]     teacher-forced text in one batch: same top-1 as
 *                   llama.cpp at every position except near-ties (llama.cpp's
 *                   top-2 gap < NEAR_TIE, printed); max |dlogit| over llama.cpp's
 *                   top-16 (printed with 6 decimals) and over the full rows of
 *                   tf_full.bin (exact floats) below MAX. smelt's AVX2 tier is
 *                   meant to be bit-exact: MAX = 1e-5 asks for that
 *   greedy DIR [MODEL]     greedy continuations (token by token) identical to
 *                   llama.cpp's on every prompt
 *   tok DIR TEXT    smelt's tokenization of TEXT and of the greedy prompts equals
 *                   llama.cpp's (the models carry a cut-down SmolLM2 vocabulary)
 *   bad DIR         smelt_model_load refuses the inconsistent gemma3 files in DIR
 *                   with a message that names the problem; DIR/ok.gguf loads
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smelt/model.h"

#define NEAR_TIE 0.05f

static struct smelt_model *g_model;

static struct smelt_model *load_or_die(const char *dir, const char *model) {
    char path[1024];
    if (model) snprintf(path, sizeof path, "%s", model);
    else snprintf(path, sizeof path, "%s/model.gguf", dir);
    struct smelt_model *m = NULL;
    if (smelt_model_load(path, &m)) {
        fprintf(stderr, "load: %s\n", smelt_last_error());
        exit(1);
    }
    return m;
}

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
        fprintf(stderr, "cannot open %s (regenerate with scripts/golden_arch.py)\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) exit(1);
    b[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

/* space-separated ints from s until end of line; returns the count */
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

static void eval_all(struct smelt_ctx *c, const int32_t *tok, int32_t n, int32_t pos0, bool all) {
    int32_t *pos = malloc(sizeof *pos * (size_t)n), *sq = malloc(sizeof *sq * (size_t)n);
    int8_t *want = malloc((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        sq[i] = 0;
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

static int test_tf(const char *dir, double max_dlogit) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tf.txt", dir);
    char *txt = read_all(path, NULL);
    const char *s = txt;
    int32_t tok[1024];
    const int n = parse_ints(s, tok, 1024, &s);
    CHECK(n >= 128 && n <= 512);
    if (n < 128 || n > 512) return CHECK_EXIT();
    const int32_t V = smelt_model_n_vocab(g_model);
    struct smelt_ctx *c = new_ctx(512, 512);
    eval_all(c, tok, n, 0, true);
    int mism = 0, ties = 0, first_diff = -1, exact_rows = 0;
    double max_d = 0, sum_d = 0;
    long cnt = 0;
    for (int i = 0; i < n; i++) {
        int pos, top1, used;
        float v1, v2;
        if (sscanf(s, "%d %d %f %f |%n", &pos, &top1, &v1, &v2, &used) != 4 || pos != i) {
            fprintf(stderr, "bad golden line %d\n", i);
            return 1;
        }
        s += used;
        const float *l = smelt_logits(c, i);
        double row_d = 0;
        for (int k = 0; k < 16; k++) {
            int id;
            float v;
            if (sscanf(s, " %d:%f%n", &id, &v, &used) != 2 || id < 0 || id >= V) {
                fprintf(stderr, "bad golden line %d\n", i);
                return 1;
            }
            s += used;
            const double d = fabs((double)l[id] - v);
            row_d = fmax(row_d, d);
            sum_d += d;
            cnt++;
        }
        /* the golden keeps 6 decimals: "equal" means within its rounding */
        if (row_d <= 1e-6 * (1 + fabs(v1))) exact_rows++;
        if (row_d > 1e-3 && first_diff < 0) first_diff = i;
        max_d = fmax(max_d, row_d);
        while (*s && *s != '\n') s++;
        if (*s) s++;
        const int32_t mine = argmax(l, V);
        if (mine != top1) {
            if (v1 - v2 < NEAR_TIE) {
                ties++;
                printf("pos %d: near-tie (llama.cpp gap %.4f): smelt %d, llama.cpp %d\n", i, v1 - v2, mine, top1);
            } else {
                mism++;
                printf("pos %d: top-1 differs: smelt %d (%.4f), llama.cpp %d (%.4f, smelt gives it %.4f)\n", i, mine,
                       l[mine], top1, v1, l[top1]);
            }
        }
    }
    /* full rows: positions 0, 1, 100, n-1 (scripts/golden_arch.py FULL_ROWS) */
    snprintf(path, sizeof path, "%s/tf_full.bin", dir);
    size_t blen;
    char *bin = read_all(path, &blen);
    const int rows[] = {0, 1, 100, n - 1};
    const size_t n_rows = sizeof rows / sizeof *rows;
    double max_full = 0;
    int identical_rows = 0;
    CHECK(blen == n_rows * (size_t)V * 4);
    for (size_t r = 0; r < n_rows && blen == n_rows * (size_t)V * 4; r++) {
        const float *ref = (const float *)(bin + r * (size_t)V * 4);
        const float *l = smelt_logits(c, rows[r]);
        double m = 0;
        for (int32_t v = 0; v < V; v++) m = fmax(m, fabs((double)l[v] - ref[v]));
        identical_rows += m == 0;
        max_full = fmax(max_full, m);
    }
    printf("%s: teacher-forced %d positions in one batch: %d top-1 mismatches, %d near-ties; max |dlogit| top-16 "
           "%.3g (mean %.3g), full rows %.3g (%d of %zu bit-identical); %d of %d rows equal to the golden's 6 "
           "decimals; first position with |dlogit| > 1e-3: %d\n",
           smelt_model_arch(g_model), n, mism, ties, max_d, sum_d / (double)cnt, max_full, identical_rows, n_rows,
           exact_rows, n, first_diff);
    CHECK(mism == 0);
    CHECKF(max_d < max_dlogit, "max |dlogit| top-16 %.4g, bound %.4g", max_d, max_dlogit);
    CHECKF(max_full < max_dlogit, "max |dlogit| full rows %.4g, bound %.4g", max_full, max_dlogit);
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
    struct smelt_ctx *c = new_ctx(512, 512);
    int n_prompts = 0, n_same = 0;
    while (*s == 'P') {
        int32_t p[256], g[256];
        const int np = parse_ints(s + 2, p, 256, &s);
        if (*s != 'G' || np < 1 || np > 256) return 1;
        const int ng = parse_ints(s + 2, g, 256, &s);
        if (ng < 1 || ng > 256) return 1;
        smelt_kv_clear(c);
        eval_all(c, p, np, 0, false);
        const float *l = smelt_logits(c, np - 1);
        int diverge = -1;
        for (int i = 0; i < ng; i++) {
            int32_t t = argmax(l, V);
            if (t != g[i]) {
                diverge = i;
                printf("  step %d: smelt picks %d (%.4f), llama.cpp picked %d (smelt gives it %.4f)\n", i, t, l[t],
                       g[i], l[g[i]]);
                break;
            }
            eval_all(c, &t, 1, np + i, false);
            l = smelt_logits(c, 0);
        }
        n_prompts++;
        if (diverge < 0) n_same++;
        printf("prompt %d (%d tokens): %s over %d tokens\n", n_prompts, np, diverge < 0 ? "identical" : "diverged",
               ng);
    }
    printf("%s: greedy %d of %d prompts identical\n", smelt_model_arch(g_model), n_same, n_prompts);
    CHECK(n_prompts >= 2);
    CHECK(n_same == n_prompts);
    free(txt);
    smelt_ctx_free(c);
    return CHECK_EXIT();
}

static bool same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb, const char *what) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    if (i == nb && na >= nb) return true;
    printf("%s: tokenization differs at token %zu: smelt %d, llama.cpp %d\n", what, i, i < na ? a[i] : -1,
           i < nb ? b[i] : -1);
    return false;
}

static int test_tok(const char *dir, const char *textpath) {
    const struct smelt_tok *tok = smelt_model_tok(g_model);
    char path[1024];
    snprintf(path, sizeof path, "%s/tf.txt", dir);
    char *tf = read_all(path, NULL);
    int32_t ref[1024];
    const int nref = parse_ints(tf, ref, 1024, NULL);
    size_t len, n;
    char *text = read_all(textpath, &len);
    int32_t *ids;
    if (smelt_tok_encode(tok, text, len, false, false, &ids, &n)) {
        fprintf(stderr, "tokenize: %s\n", smelt_last_error());
        return 1;
    }
    CHECK(nref > 0 && nref <= 1024 && same_ids(ids, n, ref, (size_t)nref, "text"));
    free(ids);
    /* the greedy prompts: same ids from the prompt text, which is recovered by
     * detokenizing llama.cpp's ids */
    snprintf(path, sizeof path, "%s/greedy.txt", dir);
    char *gr = read_all(path, NULL);
    const char *s = gr;
    int prompts = 0;
    while (*s == 'P') {
        int32_t p[256];
        const int np = parse_ints(s + 2, p, 256, &s);
        char buf[4096];
        size_t blen = 0;
        for (int i = 0; i < np && i < 256; i++) {
            size_t pl;
            if (smelt_tok_piece(tok, p[i], false, buf + blen, sizeof buf - blen, &pl) || blen + pl >= sizeof buf)
                return 1;
            blen += pl;
        }
        CHECK(smelt_tok_encode(tok, buf, blen, false, false, &ids, &n) == SMELT_OK);
        CHECK(same_ids(ids, n, p, (size_t)np, "prompt") && n == (size_t)np);
        free(ids);
        prompts++;
        while (*s && *s != '\n') s++; /* skip the G line */
        if (*s) s++;
    }
    CHECK(prompts >= 2);
    printf("tokenizer: text (%d tokens) and %d prompts equal to llama.cpp's\n", nref, prompts);
    free(gr);
    free(text);
    free(tf);
    return CHECK_EXIT();
}

/* One inconsistent file: load fails with the status and a message holding
 * every needle. */
static void expect_bad(const char *dir, const char *file, enum smelt_status want, const char *const *needles) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    struct smelt_model *m = (struct smelt_model *)&m; /* must be reset to NULL */
    const enum smelt_status st = smelt_model_load(path, &m);
    const char *msg = smelt_last_error();
    printf("%s: %s: %s\n", file, smelt_status_str(st), msg);
    CHECKF(st == want, "%s: status %s, want %s", file, smelt_status_str(st), smelt_status_str(want));
    CHECKF(m == NULL, "%s: out-parameter not NULL on failure", file);
    for (; *needles; needles++) CHECKF(strstr(msg, *needles) != NULL, "%s: message lacks '%s'", file, *needles);
    if (st == SMELT_OK) smelt_model_free(m);
}

static int test_bad(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ok.gguf", dir);
    struct smelt_model *m = NULL;
    /* the control: the same tiny model without the defect loads and runs */
    if (smelt_model_load(path, &m) != SMELT_OK) {
        fprintf(stderr, "ok.gguf: %s\n", smelt_last_error());
        return 1;
    }
    g_model = m;
    struct smelt_ctx *c = new_ctx(64, 64);
    const int32_t t[3] = {100, 200, 250};
    eval_all(c, t, 3, 0, true);
    CHECK(isfinite(smelt_logits(c, 2)[0]));
    smelt_ctx_free(c);
    smelt_model_free(m);
    g_model = NULL;

    expect_bad(dir, "heads_not_divisible.gguf", SMELT_ERR_FORMAT,
               (const char *const[]){"heads_not_divisible.gguf", "head count", "3", "4", NULL});
    expect_bad(dir, "swa_gt_ctx.gguf", SMELT_ERR_FORMAT,
               (const char *const[]){"swa_gt_ctx.gguf", "sliding_window", "4096", "1024", NULL});
    expect_bad(dir, "swa_missing.gguf", SMELT_ERR_FORMAT,
               (const char *const[]){"swa_missing.gguf", "gemma3.attention.sliding_window", NULL});
    return CHECK_EXIT();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_arch tf DIR MAX [MODEL] | greedy DIR [MODEL] | tok DIR TEXT | bad DIR\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    if (!strcmp(mode, "bad")) return test_bad(dir);
    const bool tf = !strcmp(mode, "tf");
    if (tf && argc < 4) {
        fprintf(stderr, "tf needs MAX\n");
        return 2;
    }
    g_model = load_or_die(dir, argc > (tf ? 4 : 3) && strcmp(mode, "tok") ? argv[tf ? 4 : 3] : NULL);
    int rc;
    if (tf) rc = test_tf(dir, strtod(argv[3], NULL));
    else if (!strcmp(mode, "greedy")) rc = test_greedy(dir);
    else if (!strcmp(mode, "tok") && argc > 3) rc = test_tok(dir, argv[3]);
    else {
        fprintf(stderr, "unknown mode %s\n", mode);
        rc = 2;
    }
    smelt_model_free(g_model);
    return rc;
}
