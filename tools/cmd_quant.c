/* smelt quantize / smelt imatrix. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "smelt/gguf.h"
#include "smelt/hub.h"
#include "smelt/quantize.h"
#include "smelt/tok.h"

static const char *QUANT_USAGE =
    "usage: smelt quantize [options] IN.gguf OUT.gguf TYPE [N_THREADS]\n"
    "  TYPE: F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1\n"
    "        Q3_K_L Q3_K_M Q3_K_S Q2_K IQ4_NL IQ4_XS\n"
    "  --imatrix FILE              importance matrix (smelt imatrix or llama-imatrix, GGUF format)\n"
    "  --allow-requantize          allow quantizing tensors that are already quantized\n"
    "  --pure                      every weight in TYPE (no per-tensor mix; fallbacks still apply)\n"
    "  --output-tensor-type T      type of output.weight (and of tied embeddings)\n"
    "  --token-embedding-type T    type of token_embd.weight\n"
    "  --ref                       llama.cpp's reference quantizers (output = llama-quantize's)\n"
    "  --calib TEXT                calibrate on a text file instead: importance data and second\n"
    "                              moments of every matmul input (type mix as with an imatrix)\n"
    "  --calib-chunks N            chunks of the text to use (default 32)\n"
    "  -c, --ctx-size N            tokens per calibration chunk (default 512)\n"
    "  --no-error-feedback         no GPTQ-style error feedback (importances only)\n"
    "  --no-self-calibration       without --imatrix/--calib: no importance data (plain error)\n"
    "  --self-calibration-tokens N tokens the model writes for self-calibration (default 4096)\n"
    "  -t, --threads N             threads (default: all CPUs)\n"
    "  -q, --quiet                 no progress output\n"
    "IN may also be a known model name (smollm2-135m, gemma3-270m).\n"
    "Without --imatrix or --calib (and without --ref), smelt first lets the model write text of its\n"
    "own and uses the activations on it as importance data (self-calibration); the type mix and\n"
    "the bits/weight stay those of a quantization without an imatrix. With self-calibration or\n"
    "--calib, each block's rounding error is also compensated in the columns not yet quantized\n"
    "(error feedback, from the second moments of the inputs; --no-error-feedback turns it off).\n";

static bool type_by_name(const char *s, int32_t *out) {
    for (uint32_t t = 0; t < SMELT_TYPE_COUNT; t++) {
        uint32_t be, bb;
        if (smelt_type_layout(t, &be, &bb) && strcasecmp(smelt_type_name(t), s) == 0) {
            *out = (int32_t)t;
            return true;
        }
    }
    return false;
}

struct progress {
    bool tty, quiet;
    time_t t0;
};

static void show_progress(void *ud, int64_t i, int64_t n, const char *name, uint32_t from, uint32_t to,
                          uint64_t bytes_from, uint64_t bytes_to) {
    struct progress *pg = ud;
    if (pg->quiet) return;
    if (pg->tty) {
        const int width = 30, fill = (int)((i + 1) * width / n);
        char bar[64];
        for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r[%s] %3d%% %4" PRId64 "/%" PRId64 " %-32.32s %6s -> %-6s", bar, (int)((i + 1) * 100 / n),
                i + 1, n, name, smelt_type_name(from), smelt_type_name(to));
        if (i + 1 == n) fputc('\n', stderr);
    } else {
        fprintf(stderr, "[%4" PRId64 "/%" PRId64 "] %-40s %6s -> %-6s %9.3f MiB -> %9.3f MiB\n", i + 1, n, name,
                smelt_type_name(from), smelt_type_name(to), (double)bytes_from / 1048576.0,
                (double)bytes_to / 1048576.0);
    }
}

static int32_t calib_decode(struct smelt_ctx *c, const struct smelt_tok *tok, const char *text, size_t len, int32_t C,
                            int32_t max_chunks, const char *what, const char *text_name);

/* `smelt quantize --calib`: importance data (saved to imatrix_out) and, with
 * `full`, the second moments (*stats) of the model on chunks of a text.
 * 0, or 1 after printing the error. */
static int calib_text(const char *model_path, const char *text_path, int32_t chunks, int32_t C, int n_threads,
                      bool full, const char *imatrix_out, struct smelt_imatrix **stats) {
    *stats = NULL;
    size_t len;
    char *text = cli_read_file(text_path, &len);
    if (!text) return 1;
    struct smelt_model *m = NULL;
    struct smelt_ctx *c = NULL;
    struct smelt_imatrix *im = NULL;
    int rc = 1;
    struct smelt_ctx_params cp;
    smelt_ctx_params_default(&cp);
    cp.n_ctx = C;
    cp.n_batch = C;
    cp.n_threads = n_threads;
    if (smelt_model_load(model_path, &m) || smelt_ctx_new(m, &cp, &c) ||
        smelt_imatrix_new(c, false, &im) ||
        (full && smelt_imatrix_collect_full(im, 0, C / 64.0f))) {
        cli_error("%s", smelt_last_error());
        goto out;
    }
    const int32_t n = calib_decode(c, smelt_model_tok(m), text, len, C, chunks, "quantize: calibration", text_path);
    if (n < 0) goto out;
    smelt_imatrix_set_chunks(im, (uint32_t)n, (uint32_t)C);
    if (smelt_imatrix_save(im, imatrix_out, text_path)) {
        cli_error("%s", smelt_last_error());
        goto out;
    }
    smelt_imatrix_detach(im);
    if (full && smelt_imatrix_has_full(im)) {
        *stats = im;
        im = NULL;
    }
    rc = 0;
out:
    smelt_imatrix_free(im);
    smelt_ctx_free(c);
    smelt_model_free(m);
    free(text);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    struct smelt_quantize_params qp;
    smelt_quantize_params_default(&qp);
    struct progress pg = {.tty = isatty(2) != 0, .t0 = time(NULL)};
    bool self_cal = true, feedback = true;
    const char *calib = NULL;
    int32_t calib_chunks = 32, calib_ctx = 512;
    struct smelt_selfcal_params scp;
    smelt_selfcal_params_default(&scp);
    const char *pos[4];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (a[0] != '-') {
            if (npos == 4) {
                cli_error("quantize: too many arguments ('%s')", a);
                return 2;
            }
            pos[npos++] = a;
        } else if (!strcmp(a, "--imatrix")) {
            if (!has_val) goto needs_value;
            qp.imatrix = argv[++i];
        } else if (!strcmp(a, "--allow-requantize")) {
            qp.allow_requantize = true;
        } else if (!strcmp(a, "--pure")) {
            qp.pure = true;
        } else if (!strcmp(a, "--ref")) {
            qp.reference = true;
        } else if (!strcmp(a, "--no-self-calibration")) {
            self_cal = false;
        } else if (!strcmp(a, "--no-error-feedback")) {
            feedback = false;
        } else if (!strcmp(a, "--calib")) {
            if (!has_val) goto needs_value;
            calib = argv[++i];
        } else if (!strcmp(a, "--calib-chunks") || !strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!has_val) goto needs_value;
            char *end;
            const bool chunks = !strcmp(a, "--calib-chunks");
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < (chunks ? 1 : 16) || v > (chunks ? 100000 : 32768)) {
                cli_error("quantize: %s: '%s' is not a %s", a, argv[i],
                          chunks ? "chunk count in 1..100000" : "chunk size in 16..32768");
                return 2;
            }
            if (chunks) calib_chunks = (int32_t)v;
            else calib_ctx = (int32_t)v;
        } else if (!strcmp(a, "--self-calibration-tokens")) {
            if (!has_val) goto needs_value;
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || v < 64 || v > 1000000) {
                cli_error("quantize: %s: '%s' is not a token count in 64..1000000", a, argv[i]);
                return 2;
            }
            scp.n_tokens = v;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            pg.quiet = true;
        } else if (!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) {
            if (!has_val) goto needs_value;
            int32_t t;
            if (!type_by_name(argv[++i], &t)) {
                cli_error("quantize: %s: unknown tensor type '%s'", a, argv[i]);
                return 2;
            }
            if (a[2] == 'o') qp.output_type = t;
            else qp.token_embd_type = t;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!has_val) goto needs_value;
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 256) {
                cli_error("quantize: %s: '%s' is not a thread count in 1..256", a, argv[i]);
                return 2;
            }
            qp.n_threads = (int)v;
        } else {
            cli_error("quantize: unknown option '%s'", a);
            fputs(QUANT_USAGE, stderr);
            return 2;
        }
        continue;
    needs_value:
        cli_error("option %s needs a value", a);
        return 2;
    }
    if (npos < 3) {
        cli_error("quantize: expected IN.gguf OUT.gguf TYPE");
        fputs(QUANT_USAGE, stderr);
        return 2;
    }
    if (!smelt_ftype_from_name(pos[2], &qp.ftype)) {
        cli_error("quantize: unknown type '%s' (one of: %s)", pos[2], smelt_ftype_names());
        return 2;
    }
    if (npos == 4) {
        char *end;
        long v = strtol(pos[3], &end, 10);
        if (*end || v < 1 || v > 256) {
            cli_error("quantize: '%s' is not a thread count in 1..256", pos[3]);
            return 2;
        }
        qp.n_threads = (int)v;
    }
    if (calib && qp.imatrix) {
        cli_error("quantize: --calib and --imatrix both give importance data; choose one");
        return 2;
    }
    if (calib && qp.reference) {
        cli_error("quantize: the reference quantizers (--ref) take no calibration");
        return 2;
    }
    char *in = NULL;
    if (smelt_hub_resolve(pos[0], &in)) {
        cli_error("%s", smelt_last_error());
        return 1;
    }
    qp.progress = show_progress;
    qp.progress_ud = &pg;
    struct smelt_quantize_stats st;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    enum smelt_status s = SMELT_OK;
    char *cal = NULL;
    struct smelt_imatrix *stats = NULL;
    const bool quantized = qp.ftype != 0 && qp.ftype != 1 && qp.ftype != 32; /* not F32/F16/BF16 */
    if (calib && !quantized) {
        cli_error("quantize: --calib needs a quantized TYPE (%s keeps full precision)", smelt_ftype_name(qp.ftype));
        free(in);
        return 2;
    }
    if ((calib || self_cal) && quantized && !qp.imatrix && !qp.reference) {
        size_t n = strlen(pos[1]) + 32;
        cal = malloc(n);
        if (!cal) {
            cli_error("out of memory");
            free(in);
            return 1;
        }
        snprintf(cal, n, "%s.calib.imatrix", pos[1]);
        scp.n_threads = qp.n_threads;
        /* check the input and the options before the model spends time on calibration */
        struct smelt_quantize_params dry = qp;
        dry.dry_run = true;
        dry.progress = NULL;
        s = smelt_quantize_file(in, pos[1], &dry, NULL);
        if (s) {
            cli_error("%s", smelt_last_error());
            free(cal);
            free(in);
            return 1;
        }
        if (calib) {
            if (calib_text(in, calib, calib_chunks, calib_ctx, qp.n_threads, feedback, cal, &stats)) {
                unlink(cal);
                free(cal);
                free(in);
                return 1;
            }
            qp.imatrix = cal;
            qp.imatrix_temp = true;
        } else {
            if (!pg.quiet)
                fprintf(stderr,
                        "quantize: self-calibration: the model writes %lld tokens (--no-self-calibration to skip)\n",
                        (long long)scp.n_tokens);
            s = smelt_self_calibrate(in, &scp, cal, feedback ? &stats : NULL);
            if (s == SMELT_ERR_UNSUPPORTED || s == SMELT_ERR_FORMAT) {
                fprintf(stderr, "smelt: warning: self-calibration is not possible for this model (%s); quantizing "
                                "without importance data\n", smelt_last_error());
                s = SMELT_OK;
                unlink(cal);
                free(cal);
                cal = NULL;
            } else if (!s) {
                qp.imatrix = cal;
                qp.imatrix_self = true;
                qp.stats_shrink = SMELT_SELFCAL_SHRINK;
            }
        }
        qp.stats = stats;
    }
    if (!s) s = smelt_quantize_file(in, pos[1], &qp, &st);
    smelt_imatrix_free(stats);
    qp.stats = NULL;
    if (cal) {
        unlink(cal);
        free(cal);
        if (!s) qp.imatrix = NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (s) {
        if (pg.tty && !pg.quiet) fputc('\n', stderr);
        cli_error("%s", smelt_last_error());
        free(in);
        return 1;
    }
    const double secs = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    const double n = st.n_elements ? (double)st.n_elements : 1.0;
    printf("quantize: %s -> %s (%s%s%s%s%s%s)\n", in, pos[1], smelt_ftype_name(qp.ftype),
           qp.imatrix ? ", imatrix " : "", qp.imatrix ? qp.imatrix : "", calib ? ", calibrated on " : "",
           calib ? calib : "",
           qp.imatrix_self ? ", self-calibrated" : qp.reference ? ", llama.cpp reference quantizers" : "");
    printf("  tensors:   %" PRId64 " (%" PRId64 " converted, %" PRId64 " with importance data, %" PRId64
           " with error feedback, %" PRId64 " fell back to a smaller block type)\n",
           st.n_tensors, st.n_converted, st.n_imatrix_used, st.n_error_feedback, st.n_fallback);
    printf("  types:    ");
    for (uint32_t t = 0; t < 64; t++)
        if (st.elements_by_type[t])
            printf(" %s %.1f%%", smelt_type_name(t), 100.0 * (double)st.elements_by_type[t] / n);
    printf(" (of %" PRIu64 " weights)\n", st.n_elements);
    printf("  size:      %.2f MiB (%.3f bits/weight) -> %.2f MiB (%.3f bits/weight), %.1f%%\n",
           (double)st.bytes_in / 1048576.0, 8.0 * (double)st.bytes_in / n, (double)st.bytes_out / 1048576.0,
           8.0 * (double)st.bytes_out / n, st.bytes_in ? 100.0 * (double)st.bytes_out / (double)st.bytes_in : 0.0);
    printf("  time:      %.1f s\n", secs);
    free(in);
    return 0;
}

/* Decode up to max_chunks (0: all) chunks of C tokens of `text` into c, every
 * row requesting logits as in llama-imatrix (the last layer and the output
 * matrix then see all tokens), so that an attached smelt_imatrix observes every
 * matmul input. Returns the chunks decoded, or -1 after printing the error. */
static int32_t calib_decode(struct smelt_ctx *c, const struct smelt_tok *tok, const char *text, size_t len, int32_t C,
                            int32_t max_chunks, const char *what, const char *text_name) {
    int32_t *ids = NULL, *pos = NULL, *seq = NULL;
    int8_t *want = NULL;
    size_t n = 0;
    int32_t n_chunk = -1;
    if (smelt_tok_encode(tok, text, len, true, false, &ids, &n)) {
        cli_error("%s", smelt_last_error());
        goto out;
    }
    int32_t nc = (int32_t)(n / (size_t)C);
    if (max_chunks && max_chunks < nc) nc = max_chunks;
    if (nc < 1) {
        cli_error("%s: %s has %zu tokens, fewer than one chunk of %d", what, text_name, n, C);
        goto out;
    }
    pos = malloc(sizeof *pos * (size_t)C);
    seq = malloc(sizeof *seq * (size_t)C);
    want = malloc((size_t)C);
    if (!pos || !seq || !want) {
        cli_error("out of memory");
        goto out;
    }
    for (int32_t i = 0; i < C; i++) {
        pos[i] = i;
        seq[i] = 0;
        want[i] = 1;
    }
    fprintf(stderr, "%s: %d chunks of %d tokens from %s\n", what, nc, C, text_name);
    for (int32_t k = 0; k < nc; k++) {
        int32_t *chunk = ids + (size_t)k * C;
        if (smelt_tok_add_bos(tok) && smelt_tok_bos(tok) >= 0) chunk[0] = smelt_tok_bos(tok);
        smelt_kv_clear(c);
        struct smelt_batch b = {.n = C, .token = chunk, .pos = pos, .seq = seq, .logits = want};
        if (smelt_decode(c, &b)) {
            cli_error("%s", smelt_last_error());
            goto out;
        }
        fprintf(stderr, "\r%s: chunk %d/%d", what, k + 1, nc);
    }
    fputc('\n', stderr);
    n_chunk = nc;
out:
    free(ids);
    free(pos);
    free(seq);
    free(want);
    return n_chunk;
}

int cmd_imatrix(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mxi", &o, "imatrix")) return 2;
    if (o.kld_base || o.kld) {
        cli_error("imatrix: --kl-divergence options belong to smelt perplexity");
        return 2;
    }
    if (!o.prompt_file) {
        cli_error("imatrix: no calibration text (use -f FILE)");
        return 2;
    }
    if (!o.output) {
        cli_error("imatrix: no output file (use -o imatrix.gguf)");
        return 2;
    }
    if (o.n_positional) {
        cli_error("imatrix: unexpected argument '%s'", o.positional[0]);
        return 2;
    }
    const int32_t C = o.n_ctx ? o.n_ctx : 512;
    if (C < 16) {
        cli_error("imatrix: context %d is too small (at least 16)", C);
        return 2;
    }
    o.n_ctx = C;
    size_t len;
    char *text = cli_read_file(o.prompt_file, &len);
    if (!text) return 1;
    struct smelt_model *m = NULL;
    struct smelt_ctx *c = NULL;
    struct smelt_imatrix *im = NULL;
    int rc = 1;
    enum smelt_status st;
    if (!cli_load(&o, &m, &c)) goto out;
    if ((st = smelt_imatrix_new(c, o.process_output, &im))) {
        cli_error("%s", smelt_last_error());
        goto out;
    }
    const int32_t n_chunk = calib_decode(c, smelt_model_tok(m), text, len, C, o.ppl_chunks, "imatrix", o.prompt_file);
    if (n_chunk < 0) goto out;
    smelt_imatrix_set_chunks(im, (uint32_t)n_chunk, (uint32_t)C);
    if ((st = smelt_imatrix_save(im, o.output, o.prompt_file))) {
        cli_error("%s", smelt_last_error());
        goto out;
    }
    printf("imatrix: %" PRId64 " entries from %d chunks x %d tokens written to %s\n", smelt_imatrix_n_entries(im),
           n_chunk, C, o.output);
    rc = 0;
out:
    smelt_imatrix_free(im);
    free(text);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}
