/* Forward pass of the llama family (llama/SmolLM2, gemma3): RMSNorm, RoPE,
 * grouped-query attention over the multi-sequence KV cache, gated FFN, tied or
 * untied output. Family options (struct smelt_hparams): embedding scale,
 * per-head Q/K norms, post-attention/post-FFN norms, GeGLU, sliding-window
 * layers with their own RoPE base, final logit soft-capping. All threads of the pool run forward_worker(); work is split
 * by tokens for element-wise steps, by rows for matmuls and by (token, head)
 * pairs for attention, with a barrier between dependent steps. Numerics follow
 * llama.cpp's CPU backend (double-accumulated RMSNorm, cumulative-product RoPE
 * angles, f16 K/V and f16-rounded queries, activations quantized to the
 * weight's vec_dot_type once per matmul group). */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "base/base.h"
#include "kernels/ggml_numerics.h"
#include "kernels/attn.h"
#include "kernels/kernels.h"
#include "kernels/x16.h"
#include "model_internal.h"
#include "quant/quant.h"

struct fwd {
    struct smelt_ctx *c;
    const int32_t *token, *pos, *seq;
    int32_t n;
};

static inline void split(int64_t n, int ith, int nth, int64_t *a, int64_t *b) {
    *a = n * ith / nth;
    *b = n * (ith + 1) / nth;
}

/* Row split aligned to 16 rows so threads don't share cache lines of y. */
static inline void split_rows(int64_t n, int ith, int nth, int64_t *a, int64_t *b) {
    int64_t blocks = (n + 15) / 16;
    *a = blocks * ith / nth * 16;
    *b = blocks * (ith + 1) / nth * 16;
    if (*a > n) *a = n;
    if (*b > n) *b = n;
}

/* GELU (tanh approximation) through an f16 lookup table, as ggml's CPU backend
 * computes it (GGML_GELU_FP16), so results match llama.cpp. */
static uint16_t gelu_table[(1 << 16) + 1]; /* + a spare entry for 32-bit gathers */
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;
static void gelu_init(void) {
    for (uint32_t i = 0; i < (1u << 16); i++) {
        const float x = smelt_fp16_to_fp32((uint16_t)i);
        /* the inner term with the FMA contraction ggml's compiled table uses */
        const float inner = fmaf(0.044715f * x, x, 1.0f);
        const float y = 0.5f * x * (1.0f + tanhf(0.79788456080286535587989211986876f * x * inner));
        gelu_table[i] = smelt_fp32_to_fp16(y);
    }
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

/* Convert rows [t0,t1) of x (row length K) for each weight's vec_dot_type into
 * the activation slots; slot s holds type slot_type[s]. */
struct act_slots {
    uint32_t type[SMELT_XQ_SLOTS];
    int n;
};

static int slot_of(struct act_slots *s, uint32_t vdt) {
    for (int i = 0; i < s->n; i++)
        if (s->type[i] == vdt) return i;
    s->type[s->n] = vdt;
    return s->n++;
}

static void quantize_slots(struct smelt_ctx *c, const struct act_slots *s, const float *x, int64_t K, int64_t t0,
                           int64_t t1) {
    for (int i = 0; i < s->n; i++)
        for (int64_t t = t0; t < t1; t++) /* row stride xq_row, not the packed row size */
            smelt_quantize_rows(x + t * K, 1, K, s->type[i], (char *)c->xq[i] + (size_t)t * c->xq_row);
}

static void matmul(struct smelt_ctx *c, const struct smelt_weight *w, int slot, int64_t n_tok, float *y, int ith,
                   int nth) {
    int64_t r0, r1;
    split_rows(w->ne1, ith, nth, &r0, &r1);
    if (r1 > r0 && w->path == SMELT_MM_X16) /* row splits are multiples of 16, as are the rows */
        smelt_x16_matmul(w->type, w->ne0, w->packed, r0 / 16, r1 / 16, c->xq[slot], c->xq_row, n_tok, y, w->ne1);
    else if (r1 > r0) smelt_matmul_rows(w->data, w->type, w->ne0, r0, r1, c->xq[slot], c->xq_row, n_tok, y, w->ne1, w->path);
}

/* Show the matmul input x [n_tok][n_in] to the context's observer, once per
 * input with the distinct weight tensors that multiply it (views of one fused
 * tensor share its name). Thread 0 only, between the barrier that completes x
 * and the one after the matmuls. */
static void observe(const struct smelt_ctx *c, int ith, const struct smelt_weight *w0, const struct smelt_weight *w1,
                    const struct smelt_weight *w2, const float *x, const int32_t *pos, int64_t n_tok, int64_t n_in) {
    if (!c->act_hook || ith != 0 || n_tok <= 0) return;
    const struct smelt_weight *ws[3] = {w0, w1, w2};
    const char *names[3];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (!ws[i] || !ws[i]->name) continue;
        bool seen = false;
        for (int j = 0; j < n; j++) seen |= names[j] == ws[i]->name;
        if (!seen) names[n++] = ws[i]->name;
    }
    if (n) c->act_hook(c->act_hook_ud, names, n, x, pos, n_tok, n_in);
}

static uint32_t vdt_of(const struct smelt_weight *w) { return smelt_quant_traits(w->type)->vec_dot_type; }

static void add_bias(float *y, const struct smelt_weight *b, int64_t t0, int64_t t1) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int64_t t = t0; t < t1; t++)
        for (int64_t i = 0; i < b->ne0; i++) y[t * b->ne0 + i] += bb[i];
}

/* Rotation with the FMA contraction llama.cpp's compiled code uses, so the
 * rotated values are bit-identical. */
static void rope_apply(float *v, const float *cs, int32_t n_rot, int32_t head_dim, enum smelt_rope_kind kind) {
    (void)head_dim;
    if (kind == SMELT_ROPE_NORM) {
        for (int32_t i = 0; i < n_rot; i += 2) {
            const float c = cs[i], s = cs[i + 1];
            const float x0 = v[i], x1 = v[i + 1];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + 1] = fmaf(x0, s, x1 * c);
        }
    } else {
        const int32_t h = n_rot / 2;
        for (int32_t i = 0; i < h; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float x0 = v[i], x1 = v[i + h];
            v[i] = fmaf(x0, c, -(x1 * s));
            v[i + h] = fmaf(x0, s, x1 * c);
        }
    }
}

/* Attention for (token, head) pairs split across threads. Scores live in a
 * row over the sequence's cells in ascending cell order (padded to 32 with
 * -inf, masked cells -inf), like llama.cpp's masked KQ row, so that the softmax
 * and the probability-weighted sum of V run in llama.cpp's order
 * (ggml_numerics.h). Indexing by the sequence's own cell list (not the global
 * cell index) makes results independent of other sequences in the cache. */
static void attention(struct fwd *f, int il, int ith, int nth) {
    struct smelt_ctx *c = f->c;
    const struct smelt_hparams *hp = &c->model->hp;
    const int32_t H = hp->n_head, HD = hp->head_dim, KD = hp->n_head_kv * HD, gqa = hp->n_head / hp->n_head_kv;
    const float scale = hp->kq_scale;
    const int32_t win = smelt_layer_is_swa(hp, il) ? hp->n_swa : 0;
    const enum smelt_dot_order order = f->n > 1 ? SMELT_ORDER_SGEMM : SMELT_ORDER_VECDOT;
    const uint16_t *K = c->kv.k + (size_t)il * c->kv.layer_stride;
    const uint16_t *V = c->kv.v + (size_t)il * c->kv.layer_stride;
    float *sc = c->scores + (size_t)ith * c->scores_stride;
    float *acc = c->attn_acc + (size_t)ith * 32 * HD;
    uint16_t *qh = c->qh + (size_t)ith * HD;
    int64_t w0, w1;
    split((int64_t)f->n * H, ith, nth, &w0, &w1);
    for (int64_t w = w0; w < w1; w++) {
        const int32_t t = (int32_t)(w / H), h = (int32_t)(w % H), kvh = h / gqa;
        const int32_t p = f->pos[t];
        const int32_t *cells = c->vis + c->vis_off[t];
        const int32_t nc = c->vis_n[t];
        float *o = c->att + (size_t)t * H * HD + (size_t)h * HD;
        if (nc == 0) {
            memset(o, 0, (size_t)HD * sizeof *o);
            continue;
        }
        const int32_t nd = (nc + 31) & ~31;
        smelt_fp32_to_fp16_row(c->q + (size_t)t * H * HD + (size_t)h * HD, qh, HD);
        for (int32_t j = 0; j < nd; j++) sc[j] = -INFINITY;
        float mx = -INFINITY;
        for (int32_t j = 0; j < nc; j++) {
            const int32_t cell = cells[j], cp = c->kv.pos[cell];
            if (cp > p || (win && p - cp >= win)) continue;
            const float s = smelt_dot_f16_order(HD, K + (size_t)cell * KD + (size_t)kvh * HD, qh, order) * scale;
            sc[j] = s;
            if (s > mx) mx = s;
        }
        const double sum = smelt_softmax_exp_f32(nd, sc, sc, mx);
        const float inv = (float)(1.0 / sum);
        /* probabilities are rounded to f16, as llama.cpp's KQ x V matmul converts them */
        for (int32_t j = 0; j < nd; j++)
            if (sc[j] != 0.0f) sc[j] = smelt_fp16_to_fp32(smelt_fp32_to_fp16(sc[j] * inv));
        smelt_attn_v_order(nc, sc, V + (size_t)kvh * HD, cells, KD, HD, o, acc, order);
    }
}

/* Batched attention (kernels/attn.h), one sequence of the chunk at a time:
 * the sequence's cells are gathered by all threads, then its (token, KV head)
 * items are dealt round-robin (later tokens see more cells, so contiguous
 * ranges would be unbalanced). A token's result depends only on its
 * sequence's cell list, so a sequence batched with others gets the same
 * numbers as alone. */
static void attention_batched(struct fwd *f, int il, int ith, int nth) {
    struct smelt_ctx *c = f->c;
    const struct smelt_hparams *hp = &c->model->hp;
    const int64_t HD = hp->head_dim, NKV = hp->n_head_kv, G = hp->n_head / hp->n_head_kv, QD = hp->n_head * HD,
                  ld = c->attn_ld;
    const int32_t win = smelt_layer_is_swa(hp, il) ? hp->n_swa : 0;
    float *qf = c->attn_acc + (size_t)ith * 32 * HD; /* G <= 32 rows */
    float *sc = c->scores + (size_t)ith * G * c->scores_stride;
    for (int32_t first = 0; first < f->n; first++) {
        const int32_t off = c->vis_off[first];
        bool seen = false; /* lists are taken in order of their first token */
        for (int32_t t = 0; t < first && !seen; t++) seen = c->vis_off[t] == off;
        if (seen) continue;
        const int64_t nc = c->vis_n[first], npad = (nc + SMELT_ATTN_PAD - 1) & ~(int64_t)(SMELT_ATTN_PAD - 1);
        int64_t j0, j1;
        split(npad, ith, nth, &j0, &j1);
        smelt_attn_gather(c->kv.k + (size_t)il * c->kv.layer_stride, c->kv.v + (size_t)il * c->kv.layer_stride,
                          c->kv.pos, c->vis + off, nc, j0, j1, NKV, HD, ld, c->kt, c->vf, c->cpos);
        smelt_pool_barrier(c->pool);
        int64_t item = 0;
        for (int32_t t = first; t < f->n; t++) {
            if (c->vis_off[t] != off) continue;
            for (int64_t kvh = 0; kvh < NKV; kvh++, item++) {
                if (item % nth != ith) continue;
                const float *q = c->q + t * QD + kvh * G * HD;
                for (int64_t g = 0; g < G; g++) {
                    smelt_fp32_to_fp16_row(q + g * HD, c->qh + (size_t)ith * HD, HD);
                    smelt_fp16_to_fp32_row(c->qh + (size_t)ith * HD, qf + g * HD, HD);
                }
                smelt_attn_rows((int)G, HD, qf, HD, c->kt + kvh * HD * ld, ld, c->vf + kvh * ld * HD, c->cpos, nc,
                                f->pos[t], win, hp->kq_scale, sc, c->att + t * QD + kvh * G * HD, HD);
            }
        }
        smelt_pool_barrier(c->pool); /* the next list's gather overwrites kt/vf */
    }
}

static void forward_worker(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    struct smelt_ctx *c = f->c;
    const struct smelt_model *m = c->model;
    const struct smelt_hparams *hp = &m->hp;
    const int64_t n = f->n, E = hp->n_embd, H = hp->n_head, HD = hp->head_dim, QD = H * HD,
                  KD = (int64_t)hp->n_head_kv * HD, F = hp->n_ff;
    int64_t t0, t1;
    split(n, ith, nth, &t0, &t1);
    int64_t n_out = 0; /* entries that want logits */
    for (int64_t t = 0; t < n; t++) n_out += c->out_row[t] >= 0;
    int64_t nr = n; /* rows in flight: all tokens, then (last layer, after attention) the output rows */
    const int32_t *rpos = f->pos; /* their positions */

    /* embeddings and RoPE angles (global and sliding-window bases) for my tokens */
    const struct smelt_type_traits *et = smelt_quant_traits(m->tok_embd.type);
    for (int64_t t = t0; t < t1; t++) {
        float *x = c->x + t * E;
        if (m->embd_packed)
            smelt_x16_row_to_float(m->output.type, E, m->output.packed, f->token[t], x);
        else
            et->to_float((const char *)m->tok_embd.data + (size_t)f->token[t] * m->tok_embd.row_bytes, x, E);
        if (hp->embd_scale > 0)
            for (int64_t i = 0; i < E; i++) x[i] *= hp->embd_scale;
        const float *ff = m->rope_freqs.data; /* optional per-frequency divisors */
        for (int b = 0; b < 2; b++) {
            const float base = b ? hp->rope_base_swa : hp->rope_base;
            const float fscale = b ? hp->rope_freq_scale_swa : hp->rope_freq_scale;
            const float theta_scale = powf(base, -2.0f / (float)hp->n_rot);
            float theta = (float)f->pos[t];
            float *cs = c->rope_cs + (t * 2 + b) * hp->n_rot;
            for (int32_t i = 0; i < hp->n_rot; i += 2) {
                const float th = fscale * (ff ? theta / ff[i / 2] : theta);
                cs[i] = cosf(th);
                cs[i + 1] = sinf(th);
                theta *= theta_scale;
            }
        }
    }

    for (int il = 0; il < hp->n_layer; il++) {
        const struct smelt_layer *L = &m->layers[il];
        /* attention block */
        struct act_slots sa = {0};
        const int sq = slot_of(&sa, vdt_of(&L->wq)), sk = slot_of(&sa, vdt_of(&L->wk)),
                  sv = slot_of(&sa, vdt_of(&L->wv));
        for (int64_t t = t0; t < t1; t++) rmsnorm(c->xn + t * E, c->x + t * E, L->attn_norm.data, E, hp->norm_eps);
        quantize_slots(c, &sa, c->xn, E, t0, t1);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->wq, &L->wk, &L->wv, c->xn, f->pos, n, E);
        matmul(c, &L->wq, sq, n, c->q, ith, nth);
        matmul(c, &L->wk, sk, n, c->k, ith, nth);
        matmul(c, &L->wv, sv, n, c->v, ith, nth);
        smelt_pool_barrier(c->pool);
        add_bias(c->q, &L->bq, t0, t1);
        add_bias(c->k, &L->bk, t0, t1);
        add_bias(c->v, &L->bv, t0, t1);
        uint16_t *Kc = c->kv.k + (size_t)il * c->kv.layer_stride;
        uint16_t *Vc = c->kv.v + (size_t)il * c->kv.layer_stride;
        const bool swa = smelt_layer_is_swa(hp, il);
        for (int64_t t = t0; t < t1; t++) {
            const float *cs = c->rope_cs + (t * 2 + (swa ? 1 : 0)) * hp->n_rot;
            for (int64_t h = 0; h < H; h++) {
                float *qv = c->q + t * QD + h * HD;
                if (hp->qk_norm) rmsnorm(qv, qv, L->q_norm.data, HD, hp->norm_eps);
                rope_apply(qv, cs, hp->n_rot, HD, hp->rope_kind);
                if (hp->q_scale != 1.0f)
                    for (int64_t i = 0; i < HD; i++) qv[i] *= hp->q_scale;
            }
            for (int64_t h = 0; h < hp->n_head_kv; h++) {
                float *kv = c->k + t * KD + h * HD;
                if (hp->qk_norm) rmsnorm(kv, kv, L->k_norm.data, HD, hp->norm_eps);
                rope_apply(kv, cs, hp->n_rot, HD, hp->rope_kind);
            }
            smelt_fp32_to_fp16_row(c->k + t * KD, Kc + (size_t)c->cell_of[t] * KD, KD);
            smelt_fp32_to_fp16_row(c->v + t * KD, Vc + (size_t)c->cell_of[t] * KD, KD);
        }
        smelt_pool_barrier(c->pool);
        if (c->kt) {
            attention_batched(f, il, ith, nth); /* ends with a barrier */
        } else {
            attention(f, il, ith, nth);
            smelt_pool_barrier(c->pool);
        }
        struct act_slots so = {0};
        const int s_o = slot_of(&so, vdt_of(&L->wo));
        quantize_slots(c, &so, c->att, QD, t0, t1);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->wo, NULL, NULL, c->att, f->pos, n, QD);
        matmul(c, &L->wo, s_o, n, c->xn, ith, nth);
        smelt_pool_barrier(c->pool);
        if (il == hp->n_layer - 1 && n_out < n) {
            /* as llama.cpp (inp_out_ids): the rest of the last layer runs on the
             * rows that want logits only, packed in batch order, which also
             * decides the row count its batched kernels see */
            if (n_out == 0) return;
            if (ith == 0)
                for (int64_t t = 0, j = 0; t < n; t++)
                    if (c->out_row[t] >= 0) {
                        c->obs_pos[j] = f->pos[t];
                        if (t != j) {
                            memcpy(c->x + j * E, c->x + t * E, (size_t)E * sizeof(float));
                            memcpy(c->xn + j * E, c->xn + t * E, (size_t)E * sizeof(float));
                        }
                        j++;
                    }
            nr = n_out;
            rpos = c->obs_pos;
            split(nr, ith, nth, &t0, &t1);
            smelt_pool_barrier(c->pool);
        }

        /* FFN block */
        struct act_slots sf = {0};
        const int sg = slot_of(&sf, vdt_of(&L->w_gate)), su = slot_of(&sf, vdt_of(&L->w_up));
        for (int64_t t = t0; t < t1; t++) {
            float *x = c->x + t * E, *o = c->xn + t * E;
            if (hp->post_norms) rmsnorm(o, o, L->post_attn_norm.data, E, hp->norm_eps);
            for (int64_t i = 0; i < E; i++) x[i] += o[i];
            rmsnorm(o, x, L->ffn_norm.data, E, hp->norm_eps);
        }
        quantize_slots(c, &sf, c->xn, E, t0, t1);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->w_gate, &L->w_up, NULL, c->xn, rpos, nr, E);
        matmul(c, &L->w_gate, sg, nr, c->gate, ith, nth);
        matmul(c, &L->w_up, su, nr, c->up, ith, nth);
        smelt_pool_barrier(c->pool);
        struct act_slots sd = {0};
        const int s_d = slot_of(&sd, vdt_of(&L->w_down));
        for (int64_t t = t0; t < t1; t++) {
            float *g = c->gate + t * F;
            const float *u = c->up + t * F;
            if (hp->act == SMELT_ACT_SILU)
                smelt_swiglu_f32(F, g, u);
            else
                smelt_geglu_f16(F, g, u, gelu_table);
        }
        quantize_slots(c, &sd, c->gate, F, t0, t1);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->w_down, NULL, NULL, c->gate, rpos, nr, F);
        matmul(c, &L->w_down, s_d, nr, c->xn, ith, nth);
        smelt_pool_barrier(c->pool);
        for (int64_t t = t0; t < t1; t++) {
            float *x = c->x + t * E, *o = c->xn + t * E;
            if (hp->post_norms) rmsnorm(o, o, L->post_ffn_norm.data, E, hp->norm_eps);
            for (int64_t i = 0; i < E; i++) x[i] += o[i];
        }
    }

    /* output: rows [0, nr) are the entries that want logits, in batch order */
    struct act_slots sl = {0};
    const int s_l = slot_of(&sl, vdt_of(&m->output));
    int64_t first = -1;
    for (int64_t t = 0; t < n && first < 0; t++)
        if (c->out_row[t] >= 0) first = c->out_row[t];
    for (int64_t t = t0; t < t1; t++) {
        rmsnorm(c->xn + t * E, c->x + t * E, m->output_norm.data, E, hp->norm_eps);
        quantize_slots(c, &sl, c->xn, E, t, t + 1);
    }
    smelt_pool_barrier(c->pool);
    if (!n_out) return;
    observe(c, ith, &m->output, NULL, NULL, c->xn, n_out < n ? c->obs_pos : f->pos, n_out, E);
    float *logits = c->logits + (size_t)first * hp->n_vocab;
    matmul(c, &m->output, s_l, n_out, logits, ith, nth);
    if (hp->logit_softcap > 0) {
        int64_t r0, r1;
        split_rows(m->output.ne1, ith, nth, &r0, &r1);
        const float cap = hp->logit_softcap, inv_cap = 1.0f / cap; /* scale, tanh, scale, as llama.cpp */
        for (int64_t t = 0; t < n_out; t++)
            for (int64_t r = r0; r < r1; r++) {
                float *v = &logits[t * hp->n_vocab + r];
                *v = tanhf(*v * inv_cap) * cap;
            }
    }
}

/* Per-sequence lists of visible cells for this chunk. */
static void build_visibility(struct smelt_ctx *c, const int32_t *seq, int32_t n) {
    int32_t seqs[SMELT_MAX_SEQ], n_seqs = 0, off = 0;
    int32_t list_off[SMELT_MAX_SEQ], list_n[SMELT_MAX_SEQ];
    for (int32_t i = 0; i < n; i++) {
        int32_t j = 0;
        while (j < n_seqs && seqs[j] != seq[i]) j++;
        if (j == n_seqs) {
            seqs[n_seqs] = seq[i];
            list_off[n_seqs] = off;
            int32_t cnt = 0;
            const uint64_t bit = 1ull << seq[i];
            for (int32_t cell = 0; cell < c->kv.n_ctx; cell++)
                if (c->kv.pos[cell] >= 0 && (c->kv.seqs[cell] & bit)) c->vis[off + cnt++] = cell;
            list_n[n_seqs] = cnt;
            off += cnt;
            n_seqs++;
        }
        c->vis_off[i] = list_off[j];
        c->vis_n[i] = list_n[j];
    }
}

enum smelt_status smelt_forward_chunk(struct smelt_ctx *c, const int32_t *token, const int32_t *pos,
                                      const int32_t *seq, int32_t n) {
    if (c->model->hp.act == SMELT_ACT_GELU_TANH) pthread_once(&gelu_once, gelu_init);
    build_visibility(c, seq, n);
    struct fwd f = {.c = c, .token = token, .pos = pos, .seq = seq, .n = n};
    smelt_pool_run(c->pool, forward_worker, &f);
    return SMELT_OK;
}
