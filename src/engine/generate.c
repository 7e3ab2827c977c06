/* Prompt evaluation + sampling loop, chat formatting, prompt tokenization. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "engine_internal.h"
#include "smelt/engine.h"

void smelt_gen_params_default(struct smelt_gen_params *p) {
    memset(p, 0, sizeof *p);
    p->n_predict = -1;
    smelt_sampler_params_default(&p->sampling);
}

enum smelt_status smelt_generate(struct smelt_ctx *c, int32_t seq, int32_t pos0, const int32_t *prompt,
                                 size_t n_prompt, const struct smelt_gen_params *p, smelt_gen_cb cb, void *user,
                                 struct smelt_gen_stats *stats) {
    enum smelt_status st = SMELT_OK;
    struct smelt_gen_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    const struct smelt_model *m = smelt_ctx_model(c);
    const struct smelt_tok *tok = smelt_model_tok(m);
    const int32_t n_ctx = smelt_ctx_n_ctx(c);
    if (n_prompt == 0) return smelt_err(SMELT_ERR_INVALID_ARG, "empty prompt");
    if (pos0 < 0) pos0 = 0;
    if ((size_t)pos0 + n_prompt > (size_t)n_ctx)
        return smelt_err(SMELT_ERR_RANGE, "prompt is too long: %zu tokens (starting at position %d), context is %d tokens",
                         n_prompt, pos0, n_ctx);

    struct smelt_sampler *smp = NULL;
    struct smelt_detok *dt = NULL;
    struct smelt_stop *stop = NULL;
    int32_t *pos = NULL, *sq = NULL;
    if ((st = smelt_sampler_new(&p->sampling, smelt_model_n_vocab(m), &smp))) goto done;
    if ((st = smelt_detok_new(tok, false, &dt))) goto done;
    if ((st = smelt_stop_new(p->stop, p->n_stop, &stop))) goto done;
    stats->seed = smelt_sampler_seed(smp);
    pos = smelt_malloc(n_prompt * sizeof *pos);
    sq = smelt_malloc(n_prompt * sizeof *sq);
    if (!pos || !sq) { st = SMELT_ERR_NOMEM; goto done; }
    for (size_t i = 0; i < n_prompt; i++) {
        pos[i] = pos0 + (int32_t)i;
        sq[i] = seq;
        smelt_sampler_accept(smp, prompt[i]);
    }
    smelt_kv_seq_rm(c, seq, pos0, -1);
    double t0 = smelt_time_s();
    struct smelt_batch b = {.n = (int32_t)n_prompt, .token = prompt, .pos = pos, .seq = sq, .logits = NULL};
    if ((st = smelt_decode(c, &b))) goto done;
    const float *logits = smelt_logits(c, b.n - 1);
    double t1 = smelt_time_s();
    stats->n_prompt = (int32_t)n_prompt;
    stats->t_prompt_s = t1 - t0;
    int32_t cur_pos = pos0 + (int32_t)n_prompt;
    stats->reason = SMELT_STOP_LENGTH;
    struct smelt_token_logprobs lp;
    const char *emit;
    size_t emit_len;
    for (int32_t i = 0; p->n_predict < 0 || i < p->n_predict; i++) {
        int32_t t = smelt_sampler_sample(smp, logits, p->sampling.n_logprobs > 0 ? &lp : NULL);
        smelt_sampler_accept(smp, t);
        stats->n_gen++;
        if (!p->ignore_eos && smelt_tok_is_eog(tok, t)) {
            stats->reason = SMELT_STOP_EOG;
            break;
        }
        const char *text;
        size_t len;
        if ((st = smelt_detok_push(dt, t, &text, &len))) goto done;
        bool hit = smelt_stop_push(stop, text, len, &emit, &emit_len);
        if (cb && (emit_len || p->sampling.n_logprobs > 0) &&
            !cb(user, emit, emit_len, t, p->sampling.n_logprobs > 0 ? &lp : NULL)) {
            stats->reason = SMELT_STOP_CALLER;
            goto finish;
        }
        if (hit) {
            stats->reason = SMELT_STOP_STRING;
            goto finish;
        }
        if (p->n_predict >= 0 && i + 1 >= p->n_predict) break;
        if (cur_pos >= n_ctx) {
            stats->reason = SMELT_STOP_CONTEXT;
            break;
        }
        struct smelt_batch one = {.n = 1, .token = &t, .pos = &cur_pos, .seq = &seq, .logits = NULL};
        if ((st = smelt_decode(c, &one))) goto done;
        logits = smelt_logits(c, 0);
        cur_pos++;
    }
    /* flush text held by the detokenizer and the stop matcher */
    {
        const char *text;
        size_t len;
        if ((st = smelt_detok_flush(dt, &text, &len))) goto done;
        bool hit = smelt_stop_push(stop, text, len, &emit, &emit_len);
        if (cb && emit_len) cb(user, emit, emit_len, -1, NULL);
        if (hit) stats->reason = SMELT_STOP_STRING;
        else {
            smelt_stop_flush(stop, &emit, &emit_len);
            if (cb && emit_len) cb(user, emit, emit_len, -1, NULL);
        }
    }
finish:
    stats->t_gen_s = smelt_time_s() - t1;
done:
    free(pos);
    free(sq);
    smelt_stop_free(stop);
    smelt_detok_free(dt);
    smelt_sampler_free(smp);
    return st;
}

enum smelt_status smelt_chat_format(const struct smelt_model *m, const struct smelt_chat_msg *msgs, size_t n,
                                    bool add_assistant, char **out) {
    *out = NULL;
    const char *src = smelt_model_chat_template(m);
    if (!src) src = smelt_builtin_chat_template(smelt_model_arch(m));
    const struct smelt_tok *tok = smelt_model_tok(m);
    int32_t bos = smelt_tok_bos(tok), eos = smelt_tok_eos(tok);
    const char *bos_s = bos >= 0 ? smelt_tok_text(tok, bos) : "";
    const char *eos_s = eos >= 0 ? smelt_tok_text(tok, eos) : "";
    struct smelt_tmpl *t = NULL;
    enum smelt_status st = smelt_tmpl_parse(src, strlen(src), &t);
    if (st) return smelt_err_prefix(st, "chat template of '%s'", smelt_model_name(m));
    size_t len;
    st = smelt_tmpl_render(t, msgs, n, add_assistant, bos_s ? bos_s : "", eos_s ? eos_s : "", out, &len);
    smelt_tmpl_free(t);
    return st;
}

/* Insert one id at the front or back of a malloc'ed id array. */
static enum smelt_status ids_insert(int32_t **ids, size_t *n, int32_t id, bool front) {
    int32_t *r = smelt_realloc(*ids, (*n + 1) * sizeof *r);
    if (!r) return SMELT_ERR_NOMEM;
    if (front) {
        memmove(r + 1, r, *n * sizeof *r);
        r[0] = id;
    } else {
        r[*n] = id;
    }
    *ids = r;
    (*n)++;
    return SMELT_OK;
}

enum smelt_status smelt_tokenize_prompt(const struct smelt_model *m, const char *text, size_t len, int32_t **ids,
                                        size_t *n) {
    const struct smelt_tok *tok = smelt_model_tok(m);
    enum smelt_status st = smelt_tok_encode(tok, text, len, false, true, ids, n);
    if (st) return st;
    const int32_t bos = smelt_tok_bos(tok), eos = smelt_tok_eos(tok);
    if (smelt_tok_add_bos(tok) && bos >= 0 && !(*n > 0 && (*ids)[0] == bos)) st = ids_insert(ids, n, bos, true);
    if (!st && smelt_tok_add_eos(tok) && eos >= 0) st = ids_insert(ids, n, eos, false);
    if (st) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return st;
}
