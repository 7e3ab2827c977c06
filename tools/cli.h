/* smelt CLI: shared option parsing and model/context setup. Only tools/ may
 * call exit(). */
#ifndef SMELT_CLI_H
#define SMELT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "smelt/engine.h"
#include "smelt/model.h"
#include "smelt/sample.h"

#define CLI_MAX_STOP 16

/* Options shared by the commands that run a model. */
struct cli_opts {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    const char *system;
    int32_t n_predict;
    int32_t n_ctx;
    int32_t n_batch;
    int32_t n_threads;
    bool raw;
    bool ignore_eos;
    bool json;
    bool ids;
    bool no_special;   /* tokenize: don't add BOS/EOS */
    bool no_parse_special;
    bool list;
    bool verbose;
    int32_t bench_p, bench_n, bench_r;
    int32_t ppl_chunks;
    const char *kld_base; /* --kl-divergence-base FILE */
    bool kld;             /* --kl-divergence: compare against kld_base */
    const char *output;   /* imatrix: -o FILE */
    bool process_output;  /* imatrix: --process-output */
    const char *stop[CLI_MAX_STOP];
    size_t n_stop;
    struct smelt_sampler_params sp;
    const char *positional[4];
    int n_positional;
};

/* Parse argv[start..]; `allowed` is a string of option group letters:
 * m = model/threads/ctx, g = generation (prompt, sampling, -n), b = bench,
 * k = tokenize flags, x = perplexity flags, l = --list, i = imatrix flags (-o, --process-output).
 * On an unknown option or a bad value prints a clear error and returns false. */
bool cli_parse(int argc, char **argv, int start, const char *allowed, struct cli_opts *o, const char *cmd);

/* Resolve -m (path or known name), load the model and make a context. Prints
 * errors; returns false on failure. */
bool cli_load(const struct cli_opts *o, struct smelt_model **m, struct smelt_ctx **c);
/* The file of -m (default smollm2-135m): a path or a known name, resolved by
 * the hub; *path is malloc'ed. Prints the error and returns false on failure. */
bool cli_model_path(const struct cli_opts *o, char **path);

/* Read a whole file (or stdin when path is "-") into a malloc'ed NUL-terminated buffer. */
char *cli_read_file(const char *path, size_t *len);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cmd_pull(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_imatrix(int argc, char **argv);

#endif
