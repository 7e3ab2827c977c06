/* Self-calibration (smelt_self_calibrate): an importance matrix collected while
 * the model writes its own text. n_seq sequences start from BOS and are sampled
 * at temperature 1 (no truncation, seeded per sequence), decoded together one
 * token per sequence per step; every decoded row is observed by an imatrix
 * collector. A sequence that ends (end-of-generation token or its share of the
 * context used up) starts again from BOS. Deterministic for a given model,
 * seed and instruction-set tier. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "smelt/model.h"
#include "smelt/quantize.h"
#include "smelt/sample.h"
#include "smelt/tok.h"

void smelt_selfcal_params_default(struct smelt_selfcal_params *p) {
    memset(p, 0, sizeof *p);
    p->n_seq = 8;
    p->n_tokens = 4096;
    p->seed = 1234;
}

enum smelt_status smelt_self_calibrate(const char *model_path, const struct smelt_selfcal_params *p,
                                       const char *imatrix_out, struct smelt_imatrix **full_out) {
    if (!model_path || !p || !imatrix_out || p->n_seq < 1 || p->n_seq > SMELT_MAX_SEQ || p->n_tokens < p->n_seq)
        return smelt_err(SMELT_ERR_INVALID_ARG, "self-calibration: invalid parameters");
    if (full_out) *full_out = NULL;
    struct smelt_model *m = NULL;
    struct smelt_ctx *c = NULL;
    struct smelt_imatrix *im = NULL;
    struct smelt_sampler **smp = NULL;
    int32_t *tok = NULL, *pos = NULL, *seq = NULL;
    int8_t *want = NULL;
    const int32_t S = p->n_seq;
    /* each sequence restarts after this many positions */
    const int32_t per_seq_ctx = 256;
    enum smelt_status s = smelt_model_load(model_path, &m);
    if (s) goto done;
    const struct smelt_tok *tk = smelt_model_tok(m);
    int32_t start = smelt_tok_bos(tk);
    if (start < 0) start = smelt_tok_eos(tk);
    if (start < 0) {
        s = smelt_err(SMELT_ERR_UNSUPPORTED, "self-calibration: the model has neither a BOS nor an EOS token to start from");
        goto done;
    }
    struct smelt_ctx_params cp;
    smelt_ctx_params_default(&cp);
    cp.n_ctx = S * per_seq_ctx;
    cp.n_batch = S;
    cp.n_threads = p->n_threads;
    if ((s = smelt_ctx_new(m, &cp, &c))) goto done;
    if ((s = smelt_imatrix_new(c, false, &im))) goto done;
    if (full_out && (s = smelt_imatrix_collect_full(im, 0, per_seq_ctx / 64.0f))) goto done;
    smp = smelt_calloc((size_t)S, sizeof *smp);
    tok = smelt_malloc((size_t)S * sizeof *tok);
    pos = smelt_malloc((size_t)S * sizeof *pos);
    seq = smelt_malloc((size_t)S * sizeof *seq);
    want = smelt_malloc((size_t)S);
    if (!smp || !tok || !pos || !seq || !want) {
        s = SMELT_ERR_NOMEM;
        goto done;
    }
    const int32_t V = smelt_model_n_vocab(m);
    for (int32_t i = 0; i < S; i++) {
        struct smelt_sampler_params sp;
        smelt_sampler_params_default(&sp);
        sp.temp = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.seed = p->seed + (uint64_t)i;
        if ((s = smelt_sampler_new(&sp, V, &smp[i]))) goto done;
        tok[i] = start;
        pos[i] = 0;
        seq[i] = i;
        want[i] = 1;
    }
    int64_t done_tokens = 0;
    while (done_tokens < p->n_tokens) {
        struct smelt_batch b = {.n = S, .token = tok, .pos = pos, .seq = seq, .logits = want};
        if ((s = smelt_decode(c, &b))) goto done;
        done_tokens += S;
        for (int32_t i = 0; i < S; i++) {
            const int32_t t = smelt_sampler_sample(smp[i], smelt_logits(c, i), NULL);
            if (t < 0 || smelt_tok_is_eog(tk, t) || pos[i] + 1 >= per_seq_ctx) {
                smelt_kv_seq_rm(c, i, 0, -1);
                tok[i] = start;
                pos[i] = 0;
            } else {
                tok[i] = t;
                pos[i]++;
            }
        }
    }
    smelt_imatrix_set_chunks(im, (uint32_t)((done_tokens + per_seq_ctx - 1) / per_seq_ctx), (uint32_t)per_seq_ctx);
    s = smelt_imatrix_save(im, imatrix_out, "self-calibration");
    if (!s && full_out) {
        smelt_imatrix_detach(im);
        if (smelt_imatrix_has_full(im)) {
            *full_out = im;
            im = NULL;
        }
    }
done:
    if (smp)
        for (int32_t i = 0; i < S; i++) smelt_sampler_free(smp[i]);
    free(smp);
    free(tok);
    free(pos);
    free(seq);
    free(want);
    smelt_imatrix_free(im);
    smelt_ctx_free(c);
    smelt_model_free(m);
    return s;
}
