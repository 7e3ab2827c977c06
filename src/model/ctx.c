/* Inference context: working buffers, thread pool, batch validation and the
 * decode driver that splits a batch into forward chunks. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "kernels/x16.h"
#include "model_internal.h"

void smelt_ctx_params_default(struct smelt_ctx_params *p) {
    p->n_ctx = 0;
    p->n_batch = 512;
    p->n_threads = 0;
}

#define ALLOC(field, count)                                                               \
    do {                                                                                  \
        size_t _b;                                                                        \
        if (!smelt_mul_ok((size_t)(count), sizeof *(c->field), &_b)) {                    \
            st = smelt_err(SMELT_ERR_NOMEM, "buffer size overflow for " #field);          \
            goto fail;                                                                    \
        }                                                                                 \
        c->field = smelt_aligned_alloc(64, _b);                                           \
        if (!c->field) {                                                                  \
            st = SMELT_ERR_NOMEM;                                                         \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

enum smelt_status smelt_ctx_new(const struct smelt_model *m, const struct smelt_ctx_params *pin,
                                struct smelt_ctx **out) {
    *out = NULL;
    enum smelt_status st;
    struct smelt_ctx_params p;
    if (pin) p = *pin;
    else smelt_ctx_params_default(&p);
    const struct smelt_hparams *hp = &m->hp;
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_threads == 0) p.n_threads = smelt_n_cpus();
    if (p.n_ctx < 1 || p.n_ctx > (1 << 24))
        return smelt_err(SMELT_ERR_INVALID_ARG, "context size %d out of range 1..%d", p.n_ctx, 1 << 24);
    if (p.n_batch < 1 || p.n_batch > 65536)
        return smelt_err(SMELT_ERR_INVALID_ARG, "batch size %d out of range 1..65536", p.n_batch);
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads < 1 || p.n_threads > 256)
        return smelt_err(SMELT_ERR_INVALID_ARG, "thread count %d out of range 1..256", p.n_threads);

    struct smelt_ctx *c = smelt_calloc(1, sizeof *c);
    if (!c) return SMELT_ERR_NOMEM;
    c->model = m;
    c->params = p;
    if ((st = smelt_pool_new(p.n_threads, &c->pool))) goto fail;
    const int64_t gqa = hp->n_head / hp->n_head_kv;
    /* batched attention over gathered f32 copies or the tiled cache in place (kernels/attn.h) */
    const bool fast_attn = smelt_attn_available() && hp->head_dim % 64 == 0 && gqa <= 32 && !env_flag("SMELT_NO_FAST_ATTN");
    if ((st = smelt_kv_init(&c->kv, hp, p.n_ctx, fast_attn))) goto fail;

    const int64_t B = p.n_batch, E = hp->n_embd, QD = (int64_t)hp->n_head * hp->head_dim,
                  KD = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    ALLOC(x, B * E);
    ALLOC(xn, B * (E > QD ? E : QD));
    ALLOC(q, B * QD);
    ALLOC(k, B * KD);
    ALLOC(v, B * KD);
    ALLOC(att, B * QD);
    ALLOC(gate, B * F);
    ALLOC(up, B * F);
    ALLOC(rope_cs, B * 2 * hp->n_rot);
    /* quantized activations: widest row in any vec_dot_type, up to 3 types at once */
    int64_t maxk = E > F ? E : F;
    if (QD > maxk) maxk = QD;
    size_t row = 0;
    static const uint32_t vdts[] = {SMELT_TYPE_F32, SMELT_TYPE_F16, SMELT_TYPE_BF16, SMELT_TYPE_Q8_0,
                                    SMELT_TYPE_Q8_1, SMELT_TYPE_Q8_K};
    for (size_t i = 0; i < sizeof vdts / sizeof *vdts; i++) {
        const struct smelt_type_traits *tr = smelt_quant_traits(vdts[i]);
        if (!tr || maxk % tr->blck) continue;
        size_t r = smelt_quant_row_size(vdts[i], maxk);
        if (r > row) row = r;
    }
    c->xq_row = (row + 63) & ~(size_t)63;
    for (int s = 0; s < SMELT_XQ_SLOTS; s++) {
        c->xq[s] = smelt_aligned_alloc(64, c->xq_row * (size_t)B);
        if (!c->xq[s]) { st = SMELT_ERR_NOMEM; goto fail; }
    }
    if (smelt_x16_available() && maxk % 32 == 0) /* prepared activations of the x16 matmuls (llama.c) */
        for (int s = 0; s < SMELT_XQ_SLOTS; s++) {
            c->xa[s] = smelt_aligned_alloc(64, (size_t)(B * (maxk / 32)) * SMELT_X16_XA_BYTES);
            if (!c->xa[s]) { st = SMELT_ERR_NOMEM; goto fail; }
        }
    c->scores_stride = ((int64_t)p.n_ctx + 31) & ~(int64_t)31;
    if (fast_attn) {
        c->attn_ld = ((int64_t)p.n_ctx + SMELT_ATTN_PAD - 1) & ~(int64_t)(SMELT_ATTN_PAD - 1);
        c->scores_stride = c->attn_ld;
        ALLOC(kt, KD * c->attn_ld);
        ALLOC(vf, KD * c->attn_ld);
        ALLOC(cpos, c->attn_ld);
        if (!env_flag("SMELT_NO_FUSED_DECODE")) {
            /* per-thread state of the one-token forward pass (llama.c decode_worker) */
            const int64_t T = p.n_threads;
            c->d_stride = ((E > QD ? E : QD) + 15) & ~(int64_t)15;
            ALLOC(dx, T * c->d_stride);
            ALLOC(dxn, T * c->d_stride);
            ALLOC(dcs, T * 2 * hp->n_rot);
            ALLOC(dcpos, T * c->attn_ld);
            c->dxq = smelt_aligned_alloc(64, c->xq_row * SMELT_XQ_SLOTS * (size_t)T);
            if (c->xa[0]) {
                c->xa_row = ((size_t)(maxk / 32) * SMELT_X16_XA_BYTES + 63) & ~(size_t)63;
                c->dxa = smelt_aligned_alloc(64, c->xa_row * SMELT_XQ_SLOTS * (size_t)T);
                if (!c->dxa) { st = SMELT_ERR_NOMEM; goto fail; }
            }
            c->dctr_bytes = ((size_t)hp->n_layer * 4 + 1) * DCTR_STRIDE * sizeof *c->dctr;
            c->dctr = smelt_aligned_alloc(64, c->dctr_bytes);
            if (!c->dxq || !c->dctr) { st = SMELT_ERR_NOMEM; goto fail; }
        }
    }
    ALLOC(scores, (int64_t)p.n_threads * (c->kt ? gqa : 1) * c->scores_stride);
    ALLOC(attn_acc, (int64_t)p.n_threads * 32 * hp->head_dim);
    ALLOC(qh, (int64_t)p.n_threads * hp->head_dim);
    ALLOC(cell_of, B);
    ALLOC(vis, (int64_t)(B < SMELT_MAX_SEQ ? B : SMELT_MAX_SEQ) * p.n_ctx);
    ALLOC(vis_n, B);
    ALLOC(vis_off, B);
    ALLOC(out_row, B);
    ALLOC(obs_pos, B);
    *out = c;
    return SMELT_OK;
fail:
    smelt_ctx_free(c);
    return st;
}

void smelt_ctx_free(struct smelt_ctx *c) {
    if (!c) return;
    smelt_pool_free(c->pool);
    smelt_kv_free(&c->kv);
    free(c->x); free(c->xn); free(c->q); free(c->k); free(c->v); free(c->att);
    free(c->gate); free(c->up); free(c->rope_cs);
    for (int s = 0; s < SMELT_XQ_SLOTS; s++) free(c->xq[s]), free(c->xa[s]);
    free(c->kt); free(c->vf); free(c->cpos);
    free(c->dx); free(c->dxn); free(c->dcs); free(c->dcpos); free(c->dxq); free(c->dxa); free((void *)c->dctr);
    free(c->scores); free(c->attn_acc); free(c->qh); free(c->cell_of); free(c->vis); free(c->vis_n); free(c->vis_off);
    free(c->out_row); free(c->obs_pos); free(c->logits); free(c->out_index);
    free(c);
}

int32_t smelt_ctx_n_ctx(const struct smelt_ctx *c) { return c->params.n_ctx; }
int32_t smelt_ctx_n_threads(const struct smelt_ctx *c) { return c->params.n_threads; }
const struct smelt_model *smelt_ctx_model(const struct smelt_ctx *c) { return c->model; }

void smelt_ctx_set_act_hook(struct smelt_ctx *c, smelt_act_hook_fn fn, void *ud) {
    if (!c) return;
    c->act_hook = fn;
    c->act_hook_ud = fn ? ud : NULL;
}

const float *smelt_logits(const struct smelt_ctx *c, int32_t i) {
    if (i < 0 || i >= c->n_entries || c->out_index[i] < 0) return NULL;
    return c->logits + (size_t)c->out_index[i] * (size_t)c->model->hp.n_vocab;
}

enum smelt_status smelt_decode(struct smelt_ctx *c, const struct smelt_batch *b) {
    const struct smelt_hparams *hp = &c->model->hp;
    c->n_entries = 0;
    if (!b || b->n <= 0 || !b->token || !b->pos || !b->seq)
        return smelt_err(SMELT_ERR_INVALID_ARG, "empty or incomplete batch");
    int32_t n = b->n, n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        if (b->token[i] < 0 || b->token[i] >= hp->n_vocab)
            return smelt_err(SMELT_ERR_INVALID_ARG, "batch entry %d: token id %d out of range 0..%d", i,
                             b->token[i], hp->n_vocab - 1);
        if (b->seq[i] < 0 || b->seq[i] >= SMELT_MAX_SEQ)
            return smelt_err(SMELT_ERR_INVALID_ARG, "batch entry %d: sequence id %d out of range 0..%d", i,
                             b->seq[i], SMELT_MAX_SEQ - 1);
        if (b->pos[i] < 0)
            return smelt_err(SMELT_ERR_INVALID_ARG, "batch entry %d: negative position %d", i, b->pos[i]);
        if (b->logits ? b->logits[i] != 0 : i == n - 1) n_out++;
    }
    /* output buffers grow outside the forward pass */
    if (n_out > c->out_cap) {
        size_t bytes;
        if (!smelt_mul_ok((size_t)n_out, (size_t)hp->n_vocab * sizeof(float), &bytes))
            return smelt_err(SMELT_ERR_NOMEM, "logits buffer overflow for %d outputs", n_out);
        float *l = smelt_realloc(c->logits, bytes);
        if (!l) return SMELT_ERR_NOMEM;
        c->logits = l;
        c->out_cap = n_out;
    }
    if (n > c->out_index_cap) {
        int32_t *oi = smelt_realloc(c->out_index, (size_t)n * sizeof *oi);
        if (!oi) return SMELT_ERR_NOMEM;
        c->out_index = oi;
        c->out_index_cap = n;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) c->out_index[i] = (b->logits ? b->logits[i] != 0 : i == n - 1) ? k++ : -1;

    for (int32_t i0 = 0; i0 < n; i0 += c->params.n_batch) {
        int32_t cn = n - i0 < c->params.n_batch ? n - i0 : c->params.n_batch;
        enum smelt_status st = smelt_kv_alloc(&c->kv, b->pos + i0, b->seq + i0, cn, c->cell_of);
        if (st) {
            /* drop what earlier chunks of this batch cached */
            for (int32_t i = 0; i < i0; i++) smelt_kv_seq_rm(c, b->seq[i], b->pos[i], b->pos[i] + 1);
            return st;
        }
        for (int32_t i = 0; i < cn; i++) c->out_row[i] = c->out_index[i0 + i];
        st = smelt_forward_chunk(c, b->token + i0, b->pos + i0, b->seq + i0, cn);
        if (st) {
            smelt_kv_release(&c->kv, c->cell_of, cn, b->seq + i0);
            return st;
        }
    }
    c->n_entries = n;
    return SMELT_OK;
}
