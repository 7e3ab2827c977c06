/* smelt run / smelt chat */
#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "smelt/engine.h"

static bool print_cb(void *user, const char *text, size_t len, int32_t token, const struct smelt_token_logprobs *lp) {
    (void)token;
    (void)lp;
    struct { char *buf; size_t len, cap; } *acc = user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (acc) {
        if (acc->len + len + 1 > acc->cap) {
            size_t nc = (acc->len + len + 1) * 2;
            char *nb = realloc(acc->buf, nc);
            if (!nb) return false;
            acc->buf = nb;
            acc->cap = nc;
        }
        memcpy(acc->buf + acc->len, text, len);
        acc->len += len;
        acc->buf[acc->len] = 0;
    }
    return true;
}

static void gen_params(const struct cli_opts *o, struct smelt_gen_params *gp) {
    smelt_gen_params_default(gp);
    gp->n_predict = o->n_predict;
    gp->sampling = o->sp;
    gp->stop = o->stop;
    gp->n_stop = o->n_stop;
    gp->ignore_eos = o->ignore_eos;
}

static void print_stats(const struct smelt_gen_stats *s) {
    fprintf(stderr, "\nsmelt: prompt %d tokens in %.3f s (%.1f t/s), generated %d tokens in %.3f s (%.1f t/s), seed %llu\n",
            s->n_prompt, s->t_prompt_s, s->t_prompt_s > 0 ? s->n_prompt / s->t_prompt_s : 0.0, s->n_gen, s->t_gen_s,
            s->t_gen_s > 0 ? s->n_gen / s->t_gen_s : 0.0, (unsigned long long)s->seed);
}

int cmd_run(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mg", &o, "run")) return 2;
    char *file_text = NULL;
    size_t flen = 0;
    const char *prompt = o.prompt;
    if (o.prompt_file) {
        if (!(file_text = cli_read_file(o.prompt_file, &flen))) return 1;
        prompt = file_text;
    }
    if (!prompt && o.n_positional == 1) prompt = o.positional[0];
    if (!prompt) {
        cli_error("run: no prompt (use -p PROMPT or -f FILE)");
        return 2;
    }
    struct smelt_model *m;
    struct smelt_ctx *c;
    if (!cli_load(&o, &m, &c)) {
        free(file_text);
        return 1;
    }
    int rc = 1;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    enum smelt_status st;
    if (!o.raw) {
        struct smelt_chat_msg msgs[2];
        size_t nm = 0;
        if (o.system) msgs[nm++] = (struct smelt_chat_msg){"system", o.system};
        msgs[nm++] = (struct smelt_chat_msg){"user", prompt};
        if ((st = smelt_chat_format(m, msgs, nm, true, &text))) goto fail;
    } else {
        text = strdup(prompt);
    }
    if ((st = smelt_tokenize_prompt(m, text, strlen(text), &ids, &n))) goto fail;
    if (n == 0) {
        cli_error("run: the prompt is empty");
        goto out;
    }
    struct smelt_gen_params gp;
    gen_params(&o, &gp);
    struct smelt_gen_stats stats;
    if ((st = smelt_generate(c, 0, 0, ids, n, &gp, print_cb, NULL, &stats))) goto fail;
    fputc('\n', stdout);
    if (o.verbose) print_stats(&stats);
    rc = 0;
    goto out;
fail:
    cli_error("%s", smelt_last_error());
out:
    free(ids);
    free(text);
    free(file_text);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}

/* ---- chat ---- */

struct conv {
    struct smelt_chat_msg *msgs;
    char **owned;
    size_t n, cap;
};

static bool conv_add(struct conv *cv, const char *role, const char *content) {
    if (cv->n == cv->cap) {
        size_t nc = cv->cap ? cv->cap * 2 : 16;
        struct smelt_chat_msg *nm = realloc(cv->msgs, nc * sizeof *nm);
        if (!nm) return false;
        cv->msgs = nm;
        char **no = realloc(cv->owned, nc * sizeof *no);
        if (!no) return false;
        cv->owned = no;
        cv->cap = nc;
    }
    char *dup = strdup(content);
    if (!dup) return false;
    cv->owned[cv->n] = dup;
    cv->msgs[cv->n++] = (struct smelt_chat_msg){role, dup};
    return true;
}

static void conv_reset(struct conv *cv, size_t keep) {
    while (cv->n > keep) free(cv->owned[--cv->n]);
}

static char *g_prompt_str = "> ";
static char *prompt_fn(EditLine *e) {
    (void)e;
    return g_prompt_str;
}

int cmd_chat(int argc, char **argv) {
    struct cli_opts o;
    if (!cli_parse(argc, argv, 2, "mg", &o, "chat")) return 2;
    struct smelt_model *m;
    struct smelt_ctx *c;
    if (!cli_load(&o, &m, &c)) return 1;
    bool tty = isatty(STDIN_FILENO);
    EditLine *el = el_init("smelt", stdin, stdout, stderr);
    History *hist = history_init();
    HistEvent ev;
    history(hist, &ev, H_SETSIZE, 1000);
    el_set(el, EL_PROMPT, prompt_fn);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, hist);
    if (!tty) g_prompt_str = "";
    else fprintf(stderr, "smelt chat with %s; /reset clears the conversation, /quit exits\n", smelt_model_name(m));

    struct conv cv = {0};
    size_t n_sys = 0;
    if (o.system) {
        conv_add(&cv, "system", o.system);
        n_sys = 1;
    }
    int32_t *cached = NULL; /* tokens in the KV cache for sequence 0 */
    size_t n_cached = 0;
    struct smelt_gen_params gp;
    gen_params(&o, &gp);
    int rc = 0;
    for (;;) {
        int count;
        const char *line = el_gets(el, &count);
        if (!line) break;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        char *in = strndup(line, len);
        if (!in) break;
        if (len == 0) {
            free(in);
            continue;
        }
        if (tty) history(hist, &ev, H_ENTER, in);
        if (!strcmp(in, "/quit") || !strcmp(in, "/exit")) {
            free(in);
            break;
        }
        if (!strcmp(in, "/reset")) {
            conv_reset(&cv, n_sys);
            smelt_kv_clear(c);
            n_cached = 0;
            fprintf(stderr, "(conversation cleared)\n");
            free(in);
            continue;
        }
        if (!conv_add(&cv, "user", in)) {
            free(in);
            rc = 1;
            break;
        }
        free(in);
        char *text = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        enum smelt_status st = smelt_chat_format(m, cv.msgs, cv.n, true, &text);
        if (!st) st = smelt_tokenize_prompt(m, text, strlen(text), &ids, &n);
        free(text);
        if (!st && n >= (size_t)smelt_ctx_n_ctx(c)) {
            cli_error("the conversation no longer fits in the context (%zu tokens, context %d); use /reset", n,
                      smelt_ctx_n_ctx(c));
            conv_reset(&cv, cv.n - 1);
            free(ids);
            continue;
        }
        if (st) {
            cli_error("%s", smelt_last_error());
            conv_reset(&cv, cv.n - 1);
            continue;
        }
        /* reuse the cached prefix; re-evaluate at least the last token */
        size_t common = 0;
        while (common < n_cached && common < n && cached[common] == ids[common]) common++;
        if (common == n) common = n - 1;
        struct { char *buf; size_t len, cap; } acc = {0};
        struct smelt_gen_stats stats;
        st = smelt_generate(c, 0, (int32_t)common, ids + common, n - common, &gp, print_cb, &acc, &stats);
        fputc('\n', stdout);
        fflush(stdout);
        if (st) {
            cli_error("%s", smelt_last_error());
            conv_reset(&cv, cv.n - 1);
            free(ids);
            free(acc.buf);
            smelt_kv_clear(c);
            n_cached = 0;
            continue;
        }
        if (o.verbose) print_stats(&stats);
        conv_add(&cv, "assistant", acc.buf ? acc.buf : "");
        free(acc.buf);
        /* the cache now holds the prompt (and generated tokens we don't track): keep the prompt part */
        free(cached);
        cached = ids;
        n_cached = n;
        smelt_kv_seq_rm(c, 0, (int32_t)n, -1);
    }
    free(cached);
    conv_reset(&cv, 0);
    free(cv.msgs);
    free(cv.owned);
    history_end(hist);
    el_end(el);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return rc;
}
