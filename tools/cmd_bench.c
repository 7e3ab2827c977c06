/* smelt bench / smelt perplexity */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "smelt/engine.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
}

/* One pp run: p tokens in one batch. Returns seconds or < 0 on error. */
static double run_pp(struct smelt_ctx *c, const int32_t *tok, int32_t *pos, int32_t *seq, int32_t p) {
    smelt_kv_clear(c);
    for (int32_t i = 0; i < p; i++) {
        pos[i] = i;
        seq[i] = 0;
    }
    struct smelt_batch b = {.n = p, .token = tok, .pos = pos, .seq = seq};
    double t0 = now_s();
    if (smelt_decode(c, &b)) return -1;
    return now_s() - t0;
}

static double run_tg(struct smelt_ctx *c, const int32_t *tok, int32_t n) {
    smelt_kv_clear(c);
    double t0 = now_s();
    for (int32_t i = 0; i < n; i++) {
        int32_t s = 0;
        struct smelt_batch b = {.n = 1, .token = tok + i, .pos = &i, .seq = &s};
        if (smelt_decode(c, &b)) return -1;
    }
    return now_s() - t0;
}

int cmd_bench(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mb", &o, "bench")) return 2;
    if (o.n_ctx == 0) o.n_ctx = (o.bench_p > o.bench_n ? o.bench_p : o.bench_n) + 16;
    struct smelt_model *m;
    struct smelt_ctx *c;
    if (!cli_load(&o, &m, &c)) return 1;
    int32_t nt = o.bench_p > o.bench_n ? o.bench_p : o.bench_n;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(nt + 1)), *pos = malloc(sizeof(int32_t) * (size_t)(nt + 1)),
            *seq = malloc(sizeof(int32_t) * (size_t)(nt + 1));
    double *pp = calloc((size_t)o.bench_r, sizeof *pp), *tg = calloc((size_t)o.bench_r, sizeof *tg);
    int rc = 1;
    if (!tok || !pos || !seq || !pp || !tg) goto out;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int32_t i = 0; i < nt; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((r >> 33) % (uint64_t)smelt_model_n_vocab(m));
    }
    /* warm-up */
    if (o.bench_p && run_pp(c, tok, pos, seq, o.bench_p < 32 ? o.bench_p : 32) < 0) goto fail;
    if (o.bench_n && run_tg(c, tok, o.bench_n < 8 ? o.bench_n : 8) < 0) goto fail;
    for (int i = 0; i < o.bench_r; i++) {
        if (o.bench_p) {
            double t = run_pp(c, tok, pos, seq, o.bench_p);
            if (t < 0) goto fail;
            pp[i] = o.bench_p / t;
        }
        if (o.bench_n) {
            double t = run_tg(c, tok, o.bench_n);
            if (t < 0) goto fail;
            tg[i] = o.bench_n / t;
        }
    }
    double ppm, pps, tgm, tgs;
    mean_sd(pp, o.bench_r, &ppm, &pps);
    mean_sd(tg, o.bench_r, &tgm, &tgs);
    if (o.json) {
        printf("{\"model\": \"%s\", \"size_bytes\": %llu, \"n_params\": %llu, \"n_threads\": %d, \"reps\": %d, "
               "\"pp_tokens\": %d, \"pp_tps\": %.3f, \"pp_tps_sd\": %.3f, \"tg_tokens\": %d, \"tg_tps\": %.3f, "
               "\"tg_tps_sd\": %.3f}\n",
               smelt_model_name(m), (unsigned long long)smelt_model_size_bytes(m),
               (unsigned long long)smelt_model_n_params(m), smelt_ctx_n_threads(c), o.bench_r, o.bench_p, ppm, pps,
               o.bench_n, tgm, tgs);
    } else {
        printf("| model | size | params | threads | test | t/s |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        if (o.bench_p)
            printf("| %s | %.2f MiB | %.2f M | %d | pp%d | %.2f ± %.2f |\n", smelt_model_name(m),
                   smelt_model_size_bytes(m) / 1048576.0, smelt_model_n_params(m) / 1e6, smelt_ctx_n_threads(c),
                   o.bench_p, ppm, pps);
        if (o.bench_n)
            printf("| %s | %.2f MiB | %.2f M | %d | tg%d | %.2f ± %.2f |\n", smelt_model_name(m),
                   smelt_model_size_bytes(m) / 1048576.0, smelt_model_n_params(m) / 1e6, smelt_ctx_n_threads(c),
                   o.bench_n, tgm, tgs);
    }
    rc = 0;
    goto out;
fail:
    cli_error("%s", smelt_last_error());
out:
    free(tok);
    free(pos);
    free(seq);
    free(pp);
    free(tg);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}

int cmd_perplexity(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mx", &o, "perplexity")) return 2;
    if (!o.prompt_file) {
        cli_error("perplexity: no text file (use -f FILE)");
        return 2;
    }
    if (o.n_ctx == 0) o.n_ctx = 512;
    if (o.n_ctx < 8) {
        cli_error("perplexity: context %d is too small", o.n_ctx);
        return 2;
    }
    size_t len;
    char *text = cli_read_file(o.prompt_file, &len);
    if (!text) return 1;
    struct smelt_model *m;
    struct smelt_ctx *c;
    if (!cli_load(&o, &m, &c)) {
        free(text);
        return 1;
    }
    const struct smelt_tok *tok = smelt_model_tok(m);
    int32_t *ids = NULL, *pos = NULL, *seq = NULL, *chunk = NULL;
    int8_t *want = NULL;
    size_t n = 0;
    int rc = 1;
    const int32_t C = o.n_ctx, V = smelt_model_n_vocab(m);
    enum smelt_status st = smelt_tok_encode(tok, text, len, true, false, &ids, &n);
    if (st) goto fail;
    int32_t n_chunk = (int32_t)(n / (size_t)C);
    if (o.ppl_chunks && o.ppl_chunks < n_chunk) n_chunk = o.ppl_chunks;
    if (n_chunk < 1) {
        cli_error("perplexity: the text has %zu tokens, fewer than one chunk of %d", n, C);
        goto out;
    }
    pos = malloc(sizeof *pos * (size_t)C);
    seq = malloc(sizeof *seq * (size_t)C);
    chunk = malloc(sizeof *chunk * (size_t)C);
    want = malloc((size_t)C);
    if (!pos || !seq || !chunk || !want) goto out;
    const int32_t first = C / 2;
    for (int32_t i = 0; i < C; i++) {
        pos[i] = i;
        seq[i] = 0;
        want[i] = i >= first && i < C - 1;
    }
    fprintf(stderr, "perplexity: %zu tokens, %d chunks of %d, scoring the second half of each\n", n, n_chunk, C);
    double nll = 0, nll2 = 0;
    long count = 0;
    for (int32_t k = 0; k < n_chunk; k++) {
        memcpy(chunk, ids + (size_t)k * C, sizeof *chunk * (size_t)C);
        if (smelt_tok_add_bos(tok) && smelt_tok_bos(tok) >= 0) chunk[0] = smelt_tok_bos(tok);
        smelt_kv_clear(c);
        struct smelt_batch b = {.n = C, .token = chunk, .pos = pos, .seq = seq, .logits = want};
        if ((st = smelt_decode(c, &b))) goto fail;
        for (int32_t j = first; j < C - 1; j++) {
            const float *l = smelt_logits(c, j);
            double mx = l[0];
            for (int32_t v = 1; v < V; v++)
                if (l[v] > mx) mx = l[v];
            double s = 0;
            for (int32_t v = 0; v < V; v++) s += exp((double)l[v] - mx);
            double x = mx + log(s) - l[chunk[j + 1]];
            nll += x;
            nll2 += x * x;
            count++;
        }
        printf("[%d]%.4f,", k + 1, exp(nll / count));
        fflush(stdout);
    }
    double mean = nll / count, var = nll2 / count - mean * mean;
    double err = count > 1 && var > 0 ? sqrt(var / (count - 1)) : 0;
    double ppl = exp(mean);
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl * err);
    rc = 0;
    goto out;
fail:
    cli_error("%s", smelt_last_error());
out:
    free(ids);
    free(pos);
    free(seq);
    free(chunk);
    free(want);
    free(text);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}
