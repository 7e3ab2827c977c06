#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smelt/hub.h"

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("smelt: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool parse_i32(const char *opt, const char *v, int32_t lo, int32_t hi, int32_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        cli_error("option %s: '%s' is not an integer in %d..%d", opt, v, lo, hi);
        return false;
    }
    *out = (int32_t)x;
    return true;
}

static bool parse_f32(const char *opt, const char *v, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        cli_error("option %s: '%s' is not a number in %g..%g", opt, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static bool parse_u64(const char *opt, const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    if (!strcmp(v, "-1")) {
        *out = SMELT_SEED_RANDOM;
        return true;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        cli_error("option %s: '%s' is not a non-negative integer (or -1 for random)", opt, v);
        return false;
    }
    *out = x;
    return true;
}

bool cli_parse(int argc, char **argv, int start, const char *allowed, struct cli_opts *o, const char *cmd) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->bench_p = 512;
    o->bench_n = 128;
    o->bench_r = 5;
    o->n_batch = 512;
    smelt_sampler_params_default(&o->sp);
    bool m = strchr(allowed, 'm'), g = strchr(allowed, 'g'), b = strchr(allowed, 'b'), k = strchr(allowed, 'k'),
         x = strchr(allowed, 'x'), l = strchr(allowed, 'l'), im = strchr(allowed, 'i');
    for (int i = start; i < argc; i++) {
        const char *a = argv[i];
#define IS(s1, s2) (!strcmp(a, s1) || ((s2) && !strcmp(a, (s2) ? (s2) : "")))
#define VAL()                                                         \
    ({                                                                \
        if (i + 1 >= argc) {                                          \
            cli_error("option %s needs a value", a);                  \
            return false;                                             \
        }                                                             \
        argv[++i];                                                    \
    })
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (o->n_positional >= 4) {
                cli_error("%s: too many arguments ('%s')", cmd, a);
                return false;
            }
            o->positional[o->n_positional++] = a;
        } else if (m && IS("-m", "--model")) o->model = VAL();
        else if (m && IS("-t", "--threads")) { if (!parse_i32(a, VAL(), 1, 256, &o->n_threads)) return false; }
        else if (m && IS("-c", "--ctx-size")) { if (!parse_i32(a, VAL(), 0, 1 << 24, &o->n_ctx)) return false; }
        else if (m && IS("-b", "--batch-size")) { if (!parse_i32(a, VAL(), 1, 65536, &o->n_batch)) return false; }
        else if (m && IS("-v", "--verbose")) o->verbose = true;
        else if (g && IS("-p", "--prompt")) o->prompt = VAL();
        else if ((g || x) && IS("-f", "--file")) o->prompt_file = VAL();
        else if (g && IS("-sys", "--system-prompt")) o->system = VAL();
        else if (g && IS("-n", "--n-predict")) { if (!parse_i32(a, VAL(), -1, 1 << 24, &o->n_predict)) return false; }
        else if (g && IS("--temp", "--temperature")) { if (!parse_f32(a, VAL(), 0, 100, &o->sp.temp)) return false; }
        else if (g && IS("--top-k", NULL)) { if (!parse_i32(a, VAL(), 0, 1 << 30, &o->sp.top_k)) return false; }
        else if (g && IS("--top-p", NULL)) { if (!parse_f32(a, VAL(), 0, 1, &o->sp.top_p)) return false; }
        else if (g && IS("--min-p", NULL)) { if (!parse_f32(a, VAL(), 0, 1, &o->sp.min_p)) return false; }
        else if (g && IS("--repeat-penalty", NULL)) { if (!parse_f32(a, VAL(), 0, 100, &o->sp.repeat_penalty)) return false; }
        else if (g && IS("--repeat-last-n", NULL)) { if (!parse_i32(a, VAL(), -1, 1 << 24, &o->sp.repeat_last_n)) return false; }
        else if (g && IS("--presence-penalty", NULL)) { if (!parse_f32(a, VAL(), -2, 2, &o->sp.presence_penalty)) return false; }
        else if (g && IS("--frequency-penalty", NULL)) { if (!parse_f32(a, VAL(), -2, 2, &o->sp.frequency_penalty)) return false; }
        else if (g && IS("-s", "--seed")) { if (!parse_u64(a, VAL(), &o->sp.seed)) return false; }
        else if (g && IS("--raw", NULL)) o->raw = true;
        else if (g && IS("--ignore-eos", NULL)) o->ignore_eos = true;
        else if (g && IS("-r", "--stop")) {
            if (o->n_stop >= CLI_MAX_STOP) { cli_error("at most %d stop strings", CLI_MAX_STOP); return false; }
            o->stop[o->n_stop++] = VAL();
        }
        else if (b && IS("-p", "--n-prompt")) { if (!parse_i32(a, VAL(), 0, 1 << 20, &o->bench_p)) return false; }
        else if (b && IS("-n", "--n-gen")) { if (!parse_i32(a, VAL(), 0, 1 << 20, &o->bench_n)) return false; }
        else if (b && IS("-r", "--repetitions")) { if (!parse_i32(a, VAL(), 1, 1000, &o->bench_r)) return false; }
        else if ((b || k) && IS("--json", NULL)) o->json = true;
        else if (k && IS("--ids", NULL)) o->ids = true;
        else if (k && IS("--no-bos", NULL)) o->no_special = true;
        else if (k && IS("--no-parse-special", NULL)) o->no_parse_special = true;
        else if (x && IS("--chunks", NULL)) { if (!parse_i32(a, VAL(), 1, 1 << 20, &o->ppl_chunks)) return false; }
        else if (x && IS("--kl-divergence-base", NULL)) o->kld_base = VAL();
        else if (x && IS("--kl-divergence", NULL)) o->kld = true;
        else if (l && IS("--list", NULL)) o->list = true;
        else if (im && IS("-o", "--output")) o->output = VAL();
        else if (im && IS("--process-output", NULL)) o->process_output = true;
        else {
            cli_error("%s: unknown option '%s' (see smelt %s --help)", cmd, a, cmd);
            return false;
        }
#undef IS
#undef VAL
    }
    return true;
}

bool cli_model_path(const struct cli_opts *o, char **path) {
    *path = NULL;
    if (smelt_hub_resolve(o->model ? o->model : "smollm2-135m", path)) {
        cli_error("%s", smelt_last_error());
        return false;
    }
    return true;
}

bool cli_load(const struct cli_opts *o, struct smelt_model **m, struct smelt_ctx **c) {
    *m = NULL;
    if (c) *c = NULL;
    char *path = NULL;
    if (!cli_model_path(o, &path)) return false;
    enum smelt_status st = smelt_model_load(path, m);
    free(path);
    if (st) {
        cli_error("%s", smelt_last_error());
        return false;
    }
    if (!c) return true;
    struct smelt_ctx_params cp;
    smelt_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->n_threads;
    cp.n_batch = o->n_batch;
    if ((st = smelt_ctx_new(*m, &cp, c))) {
        cli_error("%s", smelt_last_error());
        smelt_model_free(*m);
        *m = NULL;
        return false;
    }
    return true;
}

char *cli_read_file(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            if (cap > ((size_t)1 << 30)) {
                cli_error("'%s' is larger than 1 GiB", path);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    if (f != stdin) fclose(f);
    if (!buf) {
        if (errno == ENOMEM) cli_error("out of memory reading '%s'", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
