/* smelt bench / smelt perplexity */
#include <errno.h>
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

/* JSON string body for s (quotes, backslashes and control characters escaped). */
static char *json_escape(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(6 * n + 1), *p = o;
    if (!o) return NULL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch < 0x20) {
            p += sprintf(p, "\\u%04x", ch);
        } else {
            *p++ = (char)ch;
        }
    }
    *p = 0;
    return o;
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
    /* warm-up with the full prompt size, like llama-bench */
    if (o.bench_p && run_pp(c, tok, pos, seq, o.bench_p) < 0) goto fail;
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
        char *name = json_escape(smelt_model_name(m));
        printf("{\"model\": \"%s\", \"size_bytes\": %llu, \"n_params\": %llu, \"n_threads\": %d, \"reps\": %d, "
               "\"pp_tokens\": %d, \"pp_tps\": %.3f, \"pp_tps_sd\": %.3f, \"tg_tokens\": %d, \"tg_tps\": %.3f, "
               "\"tg_tps_sd\": %.3f}\n",
               name ? name : "", (unsigned long long)smelt_model_size_bytes(m),
               (unsigned long long)smelt_model_n_params(m), smelt_ctx_n_threads(c), o.bench_r, o.bench_p, ppm, pps,
               o.bench_n, tgm, tgs);
        free(name);
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

/* ---- perplexity and KL divergence ------------------------------------------
 * Base-logits file (--kl-divergence-base), little-endian:
 *   "SMELTKLD" | u32 version=1 | u32 n_ctx | u32 n_vocab | u32 n_chunk
 *   | i32 tokens[n_chunk*n_ctx]
 *   | per chunk, per scored position (n_ctx/2 .. n_ctx-2):
 *       f32 lp_min | u16 q[n_vocab]   with log p(v) = -q[v] * (-lp_min / 65535)
 * Log-probabilities are stored relative to the row maximum (<= 0), quantized
 * to 16 bits over [lp_min, 0], as llama.cpp does for the same purpose. */

#define KLD_MAGIC "SMELTKLD"

struct kld_stats {
    double *kld, *dp; /* per position */
    long n, cap;
    long same_top;
    double nll_q, nll_b, nll_q2, nll_b2, nll_qb;
};

static bool stats_push(struct kld_stats *st, double kld, double dp) {
    if (st->n == st->cap) {
        long nc = st->cap ? st->cap * 2 : 4096;
        double *a = realloc(st->kld, sizeof *a * (size_t)nc), *b = a ? realloc(st->dp, sizeof *b * (size_t)nc) : NULL;
        if (!a || !b) return false;
        st->kld = a;
        st->dp = b;
        st->cap = nc;
    }
    st->kld[st->n] = kld;
    st->dp[st->n] = dp;
    st->n++;
    return true;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, long n, double p) {
    double idx = p * (double)(n - 1);
    long i = (long)idx;
    if (i >= n - 1) return sorted[n - 1];
    return sorted[i] + (idx - (double)i) * (sorted[i + 1] - sorted[i]);
}

static void mean_err(const double *v, long n, double *mean, double *err) {
    double s = 0, s2 = 0;
    for (long i = 0; i < n; i++) {
        s += v[i];
        s2 += v[i] * v[i];
    }
    *mean = s / n;
    double var = s2 / n - *mean * *mean;
    *err = n > 1 && var > 0 ? sqrt(var / (n - 1)) : 0;
}

/* log-softmax of one logits row into lp (double), returns log-sum-exp */
static void log_softmax(const float *l, int32_t V, double *lp) {
    double mx = l[0];
    for (int32_t v = 1; v < V; v++)
        if (l[v] > mx) mx = l[v];
    double s = 0;
    for (int32_t v = 0; v < V; v++) s += exp((double)l[v] - mx);
    const double lse = mx + log(s);
    for (int32_t v = 0; v < V; v++) lp[v] = (double)l[v] - lse;
}

int cmd_perplexity(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mx", &o, "perplexity")) return 2;
    if (o.kld && !o.kld_base) {
        cli_error("perplexity: --kl-divergence needs --kl-divergence-base FILE (written by an earlier run)");
        return 2;
    }
    if (!o.kld && !o.prompt_file) {
        cli_error("perplexity: no text file (use -f FILE)");
        return 2;
    }
    struct smelt_model *m = NULL;
    struct smelt_ctx *c = NULL;
    FILE *kf = NULL;
    char *text = NULL;
    int32_t *ids = NULL, *pos = NULL, *seq = NULL, *chunk = NULL;
    int8_t *want = NULL;
    double *lpq = NULL, *lpb = NULL;
    uint16_t *q16 = NULL;
    struct kld_stats ks = {0};
    size_t n = 0;
    int rc = 1;
    int32_t C = o.n_ctx ? o.n_ctx : 512, n_chunk = 0, V;
    enum smelt_status st = SMELT_OK;

    if (o.kld) {
        kf = fopen(o.kld_base, "rb");
        if (!kf) {
            cli_error("cannot open '%s': %s", o.kld_base, strerror(errno));
            return 1;
        }
        char magic[8];
        uint32_t hdr[4];
        if (fread(magic, 1, 8, kf) != 8 || memcmp(magic, KLD_MAGIC, 8) || fread(hdr, 4, 4, kf) != 4 || hdr[0] != 1) {
            cli_error("'%s' is not a smelt KL-divergence base file (bad magic or version)", o.kld_base);
            goto out;
        }
        if (hdr[1] < 8 || hdr[1] > (1u << 20) || hdr[3] < 1 || hdr[3] > (1u << 20)) {
            cli_error("'%s': implausible header (n_ctx %u, n_chunk %u)", o.kld_base, hdr[1], hdr[3]);
            goto out;
        }
        C = (int32_t)hdr[1];
        n_chunk = (int32_t)hdr[3];
        if (o.ppl_chunks && o.ppl_chunks < n_chunk) n_chunk = o.ppl_chunks;
        o.n_ctx = C;
        if (!cli_load(&o, &m, &c)) goto out;
        V = smelt_model_n_vocab(m);
        if ((uint32_t)V != hdr[2]) {
            cli_error("'%s' was written for a vocabulary of %u tokens, the model has %d", o.kld_base, hdr[2], V);
            goto out;
        }
        n = (size_t)hdr[3] * (size_t)C;
        ids = malloc(sizeof *ids * n);
        if (!ids || fread(ids, sizeof *ids, n, kf) != n) {
            cli_error("'%s' is truncated (token section)", o.kld_base);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= V) {
                cli_error("'%s': token %d at %zu is out of range", o.kld_base, ids[i], i);
                goto out;
            }
    } else {
        size_t len;
        if (o.n_ctx == 0) o.n_ctx = C;
        if (C < 8) {
            cli_error("perplexity: context %d is too small", C);
            return 2;
        }
        if (!(text = cli_read_file(o.prompt_file, &len))) return 1;
        if (!cli_load(&o, &m, &c)) goto out;
        V = smelt_model_n_vocab(m);
        const struct smelt_tok *tok = smelt_model_tok(m);
        if ((st = smelt_tok_encode(tok, text, len, true, false, &ids, &n))) goto fail;
        n_chunk = (int32_t)(n / (size_t)C);
        if (o.ppl_chunks && o.ppl_chunks < n_chunk) n_chunk = o.ppl_chunks;
        if (n_chunk < 1) {
            cli_error("perplexity: the text has %zu tokens, fewer than one chunk of %d", n, C);
            goto out;
        }
        if (smelt_tok_add_bos(tok) && smelt_tok_bos(tok) >= 0)
            for (int32_t k = 0; k < n_chunk; k++) ids[(size_t)k * C] = smelt_tok_bos(tok);
        if (o.kld_base) {
            kf = fopen(o.kld_base, "wb");
            if (!kf) {
                cli_error("cannot create '%s': %s", o.kld_base, strerror(errno));
                goto out;
            }
            uint32_t hdr[4] = {1, (uint32_t)C, (uint32_t)V, (uint32_t)n_chunk};
            if (fwrite(KLD_MAGIC, 1, 8, kf) != 8 || fwrite(hdr, 4, 4, kf) != 4 ||
                fwrite(ids, sizeof *ids, (size_t)n_chunk * C, kf) != (size_t)n_chunk * C) {
                cli_error("write to '%s' failed", o.kld_base);
                goto out;
            }
        }
    }
    pos = malloc(sizeof *pos * (size_t)C);
    seq = malloc(sizeof *seq * (size_t)C);
    want = malloc((size_t)C);
    lpq = malloc(sizeof *lpq * (size_t)V);
    lpb = malloc(sizeof *lpb * (size_t)V);
    q16 = malloc(sizeof *q16 * (size_t)V);
    if (!pos || !seq || !want || !lpq || !lpb || !q16) {
        cli_error("out of memory");
        goto out;
    }
    const int32_t first = C / 2;
    for (int32_t i = 0; i < C; i++) {
        pos[i] = i;
        seq[i] = 0;
        want[i] = i >= first && i < C - 1;
    }
    fprintf(stderr, "perplexity: %d chunks of %d tokens, scoring the second half of each%s\n", n_chunk, C,
            o.kld ? " (KL divergence against the base file)" : "");
    double nll = 0, nll2 = 0;
    long count = 0;
    for (int32_t k = 0; k < n_chunk; k++) {
        chunk = ids + (size_t)k * C;
        smelt_kv_clear(c);
        struct smelt_batch b = {.n = C, .token = chunk, .pos = pos, .seq = seq, .logits = want};
        if ((st = smelt_decode(c, &b))) goto fail;
        for (int32_t j = first; j < C - 1; j++) {
            log_softmax(smelt_logits(c, j), V, lpq);
            const int32_t next = chunk[j + 1];
            const double x = -lpq[next];
            nll += x;
            nll2 += x * x;
            count++;
            if (o.kld) {
                float lp_min;
                if (fread(&lp_min, 4, 1, kf) != 1 || fread(q16, 2, (size_t)V, kf) != (size_t)V || !(lp_min <= 0)) {
                    cli_error("'%s' is truncated or corrupt (chunk %d, position %d)", o.kld_base, k, j);
                    goto out;
                }
                const double step = -(double)lp_min / 65535.0;
                double sb = 0;
                for (int32_t v = 0; v < V; v++) sb += exp(-(double)q16[v] * step);
                const double lsb = log(sb); /* renormalize after quantization */
                double kld = 0;
                int32_t top_b = 0, top_q = 0;
                for (int32_t v = 0; v < V; v++) {
                    lpb[v] = -(double)q16[v] * step - lsb;
                    const double pb = exp(lpb[v]);
                    kld += pb * (lpb[v] - lpq[v]);
                    if (lpb[v] > lpb[top_b]) top_b = v;
                    if (lpq[v] > lpq[top_q]) top_q = v;
                }
                if (top_b == top_q) ks.same_top++;
                ks.nll_b += -lpb[next];
                ks.nll_b2 += lpb[next] * lpb[next];
                ks.nll_qb += lpb[next] * lpq[next];
                if (!stats_push(&ks, kld < 0 ? 0 : kld, exp(lpq[next]) - exp(lpb[next]))) {
                    cli_error("out of memory");
                    goto out;
                }
            } else if (kf) {
                double mx = lpq[0];
                for (int32_t v = 1; v < V; v++) mx = lpq[v] > mx ? lpq[v] : mx;
                double mn = 0;
                for (int32_t v = 0; v < V; v++) mn = lpq[v] - mx < mn ? lpq[v] - mx : mn;
                if (mn < -1e4) mn = -1e4;
                const float lp_min = (float)mn;
                const double step = lp_min < 0 ? -(double)lp_min / 65535.0 : 1.0;
                for (int32_t v = 0; v < V; v++) {
                    double qv = -(lpq[v] - mx) / step;
                    q16[v] = (uint16_t)(qv > 65535 ? 65535 : qv + 0.5);
                }
                if (fwrite(&lp_min, 4, 1, kf) != 1 || fwrite(q16, 2, (size_t)V, kf) != (size_t)V) {
                    cli_error("write to '%s' failed", o.kld_base);
                    goto out;
                }
            }
        }
        printf("[%d]%.4f,", k + 1, exp(nll / count));
        fflush(stdout);
    }
    double mean = nll / count, var = nll2 / count - mean * mean;
    double err = count > 1 && var > 0 ? sqrt(var / (count - 1)) : 0;
    double ppl = exp(mean);
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl * err);
    if (o.kld && ks.n > 0) {
        double mk, ek, md, ed;
        mean_err(ks.kld, ks.n, &mk, &ek);
        mean_err(ks.dp, ks.n, &md, &ed);
        double rms = 0;
        for (long i = 0; i < ks.n; i++) rms += ks.dp[i] * ks.dp[i];
        rms = sqrt(rms / ks.n);
        double pb = exp(ks.nll_b / ks.n);
        qsort(ks.kld, (size_t)ks.n, sizeof *ks.kld, cmp_double);
        qsort(ks.dp, (size_t)ks.n, sizeof *ks.dp, cmp_double);
        double sp = (double)ks.same_top / ks.n;
        printf("\n====== KL divergence statistics (%ld positions) ======\n", ks.n);
        printf("Mean PPL(Q)          : %10.6f\n", ppl);
        printf("Mean PPL(base)       : %10.6f\n", pb);
        printf("Mean ln(PPL(Q)/PPL(base)): %10.6f\n", mean - ks.nll_b / ks.n);
        printf("Mean    KLD: %10.6f +/- %10.6f\n", mk, ek);
        printf("Maximum KLD: %10.6f\n", ks.kld[ks.n - 1]);
        printf("99.9%%   KLD: %10.6f\n", pct(ks.kld, ks.n, 0.999));
        printf("99.0%%   KLD: %10.6f\n", pct(ks.kld, ks.n, 0.99));
        printf("95.0%%   KLD: %10.6f\n", pct(ks.kld, ks.n, 0.95));
        printf("90.0%%   KLD: %10.6f\n", pct(ks.kld, ks.n, 0.90));
        printf("Median  KLD: %10.6f\n", pct(ks.kld, ks.n, 0.5));
        printf("10.0%%   KLD: %10.6f\n", pct(ks.kld, ks.n, 0.10));
        printf("Minimum KLD: %10.6f\n", ks.kld[0]);
        printf("Same top p: %6.3f +/- %6.3f %%\n", 100 * sp, 100 * sqrt(sp * (1 - sp) / ks.n));
        printf("Mean    Δp: %8.4f +/- %8.4f %%\n", 100 * md, 100 * ed);
        printf("RMS     Δp: %8.4f %%\n", 100 * rms);
        printf("Maximum Δp: %8.4f %%\n", 100 * ks.dp[ks.n - 1]);
        printf("99.0%%   Δp: %8.4f %%\n", 100 * pct(ks.dp, ks.n, 0.99));
        printf("Median  Δp: %8.4f %%\n", 100 * pct(ks.dp, ks.n, 0.5));
        printf("1.0%%    Δp: %8.4f %%\n", 100 * pct(ks.dp, ks.n, 0.01));
        printf("Minimum Δp: %8.4f %%\n", 100 * ks.dp[0]);
    }
    rc = 0;
    goto out;
fail:
    cli_error("%s", smelt_last_error());
out:
    if (kf && fclose(kf) != 0 && rc == 0 && !o.kld) {
        cli_error("write to '%s' failed", o.kld_base);
        rc = 1;
    }
    free(ks.kld);
    free(ks.dp);
    free(ids);
    free(pos);
    free(seq);
    free(want);
    free(lpq);
    free(lpb);
    free(q16);
    free(text);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}
