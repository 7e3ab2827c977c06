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
#include <stdatomic.h>
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

/* lanes: the sum of squares in 8 partial sums (the AVX-512 tier, which does
 * not follow llama.cpp's order); otherwise in order, as llama.cpp */
static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps, bool lanes) {
    const double sum = smelt_sumsq_f64(x, n, lanes);
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

/* Rows [t0, t1) of a batch of n_tok; Q8_0/Q8_1 rows are also prepared for the
 * x16 matmuls (c->xa, the AVX-512 tier), once for every weight that uses them. */
static void quantize_slots(struct smelt_ctx *c, const struct act_slots *s, const float *x, int64_t K, int64_t t0,
                           int64_t t1, int64_t n_tok) {
    for (int i = 0; i < s->n; i++)
        for (int64_t t = t0; t < t1; t++) { /* row stride xq_row, not the packed row size */
            char *row = (char *)c->xq[i] + (size_t)t * c->xq_row;
            smelt_quantize_rows(x + t * K, 1, K, s->type[i], row);
            if (c->xa[i] && K % 32 == 0 && (s->type[i] == SMELT_TYPE_Q8_0 || s->type[i] == SMELT_TYPE_Q8_1))
                smelt_x16_xa_prep(s->type[i], row, K, t, n_tok, c->xa[i]);
        }
}

static bool x16_32col(uint32_t type) {
    return type == SMELT_TYPE_Q4_0 || type == SMELT_TYPE_Q4_1 || type == SMELT_TYPE_Q5_0 || type == SMELT_TYPE_Q8_0;
}


/* rows [r0, r1) of y = w x for n_tok activation rows xq (stride xq_row) or,
 * when given, the same activations prepared for the x16 32-column kernels
 * (xa); on the x16 path r0 and r1 are multiples of 16, as are the rows */
static void matmul_rows(const struct smelt_ctx *c, const struct smelt_weight *w, const void *xq, const void *xa,
                        int64_t r0, int64_t r1, int64_t n_tok, float *y) {
    if (r1 <= r0) return;
    if (w->path == SMELT_MM_X16 && xa && x16_32col(w->type))
        smelt_x16_matmul_xa(w->type, w->ne0, w->packed, r0 / 16, r1 / 16, xa, n_tok, y, w->ne1);
    else if (w->path == SMELT_MM_X16)
        smelt_x16_matmul(w->type, w->ne0, w->packed, r0 / 16, r1 / 16, xq, c->xq_row, n_tok, y, w->ne1);
    else
        smelt_matmul_rows(w->data, w->type, w->ne0, r0, r1, xq, c->xq_row, n_tok, y, w->ne1, w->path);
}

static void matmul(struct smelt_ctx *c, const struct smelt_weight *w, int slot, int64_t n_tok, float *y, int ith,
                   int nth) {
    int64_t r0, r1;
    split_rows(w->ne1, ith, nth, &r0, &r1);
    matmul_rows(c, w, c->xq[slot], c->xa[slot], r0, r1, n_tok, y);
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

/* Rotation with the FMA contraction llama.cpp's compiled code uses, so the
 * rotated values are bit-identical. Built twice: with the FMA instruction
 * where the CPU has it (the AVX2 tiers; otherwise fmaf is a library call per
 * element), and plain for the generic tier. */
#define ROPE_BODY                                                                                                     \
    if (kind == SMELT_ROPE_NORM) {                                                                                    \
        for (int32_t i = 0; i < n_rot; i += 2) {                                                                      \
            const float c = cs[i], s = cs[i + 1];                                                                     \
            const float x0 = v[i], x1 = v[i + 1];                                                                     \
            v[i] = fmaf(x0, c, -(x1 * s));                                                                            \
            v[i + 1] = fmaf(x0, s, x1 * c);                                                                           \
        }                                                                                                             \
    } else {                                                                                                          \
        const int32_t h = n_rot / 2;                                                                                  \
        for (int32_t i = 0; i < h; i++) {                                                                             \
            const float c = cs[2 * i], s = cs[2 * i + 1];                                                             \
            const float x0 = v[i], x1 = v[i + h];                                                                     \
            v[i] = fmaf(x0, c, -(x1 * s));                                                                            \
            v[i + h] = fmaf(x0, s, x1 * c);                                                                           \
        }                                                                                                             \
    }
static void rope_plain(float *v, const float *cs, int32_t n_rot, enum smelt_rope_kind kind) { ROPE_BODY }
#if defined(__x86_64__)
__attribute__((target("fma"))) static void rope_fma(float *v, const float *cs, int32_t n_rot,
                                                    enum smelt_rope_kind kind) {
    ROPE_BODY
}
#endif
#undef ROPE_BODY

static void rope_apply(float *v, const float *cs, int32_t n_rot, enum smelt_rope_kind kind) {
#if defined(__x86_64__)
    if (smelt_kernels_active_isa() >= SMELT_ISA_AVX2) {
        rope_fma(v, cs, n_rot, kind);
        return;
    }
#endif
    rope_plain(v, cs, n_rot, kind);
}

static void embed(const struct smelt_model *m, int32_t token, float *x) {
    const struct smelt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    if (m->embd_packed)
        smelt_x16_row_to_float(m->output.type, E, m->output.packed, token, x);
    else
        smelt_quant_traits(m->tok_embd.type)
            ->to_float((const char *)m->tok_embd.data + (size_t)token * m->tok_embd.row_bytes, x, E);
    if (hp->embd_scale > 0)
        for (int64_t i = 0; i < E; i++) x[i] *= hp->embd_scale;
}

/* cos/sin pairs of position p: cs[0..n_rot) for the global base, cs[n_rot..2 n_rot) for the sliding-window base */
static void rope_angles(const struct smelt_model *m, int32_t p, float *cs) {
    const struct smelt_hparams *hp = &m->hp;
    const float *ff = m->rope_freqs.data; /* optional per-frequency divisors */
    for (int b = 0; b < 2; b++) {
        const float base = b ? hp->rope_base_swa : hp->rope_base;
        const float fscale = b ? hp->rope_freq_scale_swa : hp->rope_freq_scale;
        const float theta_scale = powf(base, -2.0f / (float)hp->n_rot);
        float theta = (float)p;
        float *o = cs + b * hp->n_rot;
        for (int32_t i = 0; i < hp->n_rot; i += 2) {
            const float th = fscale * (ff ? theta / ff[i / 2] : theta);
            o[i] = cosf(th);
            o[i + 1] = sinf(th);
            theta *= theta_scale;
        }
    }
}

/* Per-head steps between the QKV matmuls and attention, for one token: bias,
 * Q/K norms, RoPE and query scaling of the query heads [h0, h1) and the key
 * heads [k0, k1), bias of those value heads, and their keys and values stored
 * in cache cell `cell` of layer il. */
static void qkv_heads(struct smelt_ctx *c, int il, float *q, float *k, float *v, const float *cs, int32_t cell,
                      int64_t h0, int64_t h1, int64_t k0, int64_t k1) {
    const struct smelt_hparams *hp = &c->model->hp;
    const struct smelt_layer *L = &c->model->layers[il];
    const int64_t HD = hp->head_dim, KD = (int64_t)hp->n_head_kv * HD;
    for (int64_t h = h0; h < h1; h++) {
        float *qv = q + h * HD;
        if (L->bq.data)
            for (int64_t i = 0; i < HD; i++) qv[i] += ((const float *)L->bq.data)[h * HD + i];
        if (hp->qk_norm) rmsnorm(qv, qv, L->q_norm.data, HD, hp->norm_eps, c->kt != NULL);
        rope_apply(qv, cs, hp->n_rot, hp->rope_kind);
        if (hp->q_scale != 1.0f)
            for (int64_t i = 0; i < HD; i++) qv[i] *= hp->q_scale;
    }
    uint16_t *Kc = c->kv.k + (size_t)il * c->kv.layer_stride;
    uint16_t *Vc = c->kv.v + (size_t)il * c->kv.layer_stride;
    for (int64_t h = k0; h < k1; h++) {
        float *kv = k + h * HD, *vv = v + h * HD;
        if (L->bk.data)
            for (int64_t i = 0; i < HD; i++) kv[i] += ((const float *)L->bk.data)[h * HD + i];
        if (L->bv.data)
            for (int64_t i = 0; i < HD; i++) vv[i] += ((const float *)L->bv.data)[h * HD + i];
        if (hp->qk_norm) rmsnorm(kv, kv, L->k_norm.data, HD, hp->norm_eps, c->kt != NULL);
        rope_apply(kv, cs, hp->n_rot, hp->rope_kind);
        smelt_fp32_to_fp16_row(vv, Vc + (size_t)cell * KD + h * HD, HD);
        if (!c->kv.k_tiled) {
            smelt_fp32_to_fp16_row(kv, Kc + (size_t)cell * KD + h * HD, HD);
        } else {
            uint16_t kh[512];
            for (int64_t d0 = 0; d0 < HD; d0 += 512) {
                const int64_t nd = HD - d0 < 512 ? HD - d0 : 512;
                smelt_fp32_to_fp16_row(kv + d0, kh, nd);
                uint16_t *dst = Kc + smelt_attn_k_index(cell, h, d0, HD, c->kv.n_blk);
                for (int64_t d = 0; d < nd; d++) dst[d * SMELT_ATTN_PAD] = kh[d];
            }
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

/* Whether the list of n cells at vis + off is one run of cells starting at a
 * 64-cell block boundary, which the kernels read in place (*c0: its first cell). */
static bool list_in_place(const struct smelt_ctx *c, int32_t off, int64_t n, int32_t *c0) {
    if (!c->kv.k_tiled || n == 0) return false;
    const int32_t *cells = c->vis + off;
    *c0 = cells[0]; /* ascending and distinct, so one run iff the span equals the count */
    return *c0 % SMELT_ATTN_PAD == 0 && cells[n - 1] - cells[0] == n - 1;
}

/* Query heads [g0, g1) of KV head kvh's group for token t (their f16
 * roundings, as f32, in qf) against the sequence's cells: in place (c0 >= 0)
 * or gathered. Every head's result is independent of which others share the
 * call, so any split of a group's heads gives the same bits. */
static void attn_kv_head(struct smelt_ctx *c, int il, int32_t t, int64_t kvh, int64_t g0, int64_t g1, int32_t c0,
                         int64_t nc, const int32_t *cpos, int32_t p, float *qf, uint16_t *qh, float *sc) {
    const struct smelt_hparams *hp = &c->model->hp;
    const int64_t HD = hp->head_dim, G = hp->n_head / hp->n_head_kv, QD = hp->n_head * HD,
                  KD = (int64_t)hp->n_head_kv * HD, ld = c->attn_ld;
    const int32_t win = smelt_layer_is_swa(hp, il) ? hp->n_swa : 0;
    const float *q = c->q + t * QD + (kvh * G + g0) * HD;
    for (int64_t g = 0; g < g1 - g0; g++) {
        smelt_fp32_to_fp16_row(q + g * HD, qh, HD);
        smelt_fp16_to_fp32_row(qh, qf + g * HD, HD);
    }
    float *o = c->att + t * QD + (kvh * G + g0) * HD;
    if (c0 >= 0) {
        const uint16_t *K = c->kv.k + (size_t)il * c->kv.layer_stride, *V = c->kv.v + (size_t)il * c->kv.layer_stride;
        smelt_attn_rows_cache((int)(g1 - g0), HD, qf, HD, K + smelt_attn_k_index(c0, kvh, 0, HD, c->kv.n_blk),
                              V + (size_t)c0 * KD + kvh * HD, KD, c->kv.pos + c0, nc, p, win, hp->kq_scale, sc, ld, o,
                              HD);
    } else {
        smelt_attn_rows((int)(g1 - g0), HD, qf, HD, c->kt + kvh * HD * ld, ld, c->vf + kvh * ld * HD, cpos, nc, p,
                        win, hp->kq_scale, sc, o, HD);
    }
}

/* Lists read in place serve at most this many tokens of a chunk; longer ones
 * are gathered once into f32 copies, whose inner loop needs no conversion. */
#define IN_PLACE_MAX_TOKENS 16

/* Batched attention (kernels/attn.h), one sequence of the chunk at a time:
 * the sequence's cells are gathered by all threads (unless they are read in
 * place), then its (token, KV head) items are dealt round-robin (later tokens
 * see more cells, so contiguous ranges would be unbalanced). A token's result
 * depends only on its sequence's cell list, so a sequence batched with others
 * gets the same numbers as alone, and in place the same as gathered. */
static void attention_batched(struct fwd *f, int il, int ith, int nth) {
    struct smelt_ctx *c = f->c;
    const struct smelt_hparams *hp = &c->model->hp;
    const int64_t HD = hp->head_dim, NKV = hp->n_head_kv, G = hp->n_head / hp->n_head_kv;
    float *qf = c->attn_acc + (size_t)ith * 32 * HD; /* G <= 32 rows */
    float *sc = c->scores + (size_t)ith * G * c->scores_stride;
    for (int32_t first = 0; first < f->n; first++) {
        const int32_t off = c->vis_off[first];
        bool seen = false; /* lists are taken in order of their first token */
        for (int32_t t = 0; t < first && !seen; t++) seen = c->vis_off[t] == off;
        if (seen) continue;
        const int64_t nc = c->vis_n[first], npad = (nc + SMELT_ATTN_PAD - 1) & ~(int64_t)(SMELT_ATTN_PAD - 1);
        int32_t n_tok = 0, c0 = -1;
        for (int32_t t = first; t < f->n; t++) n_tok += c->vis_off[t] == off;
        if (n_tok > IN_PLACE_MAX_TOKENS || !list_in_place(c, off, nc, &c0)) {
            c0 = -1;
            int64_t j0, j1;
            split(npad, ith, nth, &j0, &j1);
            smelt_attn_gather(c->kv.k + (size_t)il * c->kv.layer_stride, c->kv.v + (size_t)il * c->kv.layer_stride,
                              c->kv.pos, c->vis + off, nc, j0, j1, 0, NKV, c->kv.n_blk, NKV * HD, HD, c->attn_ld,
                              c->kt, c->vf, c->cpos);
            smelt_pool_barrier(c->pool);
        }
        int64_t item = 0;
        for (int32_t t = first; t < f->n; t++) {
            if (c->vis_off[t] != off) continue;
            for (int64_t kvh = 0; kvh < NKV; kvh++, item++)
                if (item % nth == ith)
                    attn_kv_head(c, il, t, kvh, 0, G, c0, nc, c->cpos, f->pos[t], qf, c->qh + (size_t)ith * HD, sc);
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
    for (int64_t t = t0; t < t1; t++) {
        embed(m, f->token[t], c->x + t * E);
        rope_angles(m, f->pos[t], c->rope_cs + t * 2 * hp->n_rot);
    }

    for (int il = 0; il < hp->n_layer; il++) {
        const struct smelt_layer *L = &m->layers[il];
        /* attention block */
        struct act_slots sa = {0};
        const int sq = slot_of(&sa, vdt_of(&L->wq)), sk = slot_of(&sa, vdt_of(&L->wk)),
                  sv = slot_of(&sa, vdt_of(&L->wv));
        for (int64_t t = t0; t < t1; t++) rmsnorm(c->xn + t * E, c->x + t * E, L->attn_norm.data, E, hp->norm_eps, c->kt != NULL);
        quantize_slots(c, &sa, c->xn, E, t0, t1, n);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->wq, &L->wk, &L->wv, c->xn, f->pos, n, E);
        matmul(c, &L->wq, sq, n, c->q, ith, nth);
        matmul(c, &L->wk, sk, n, c->k, ith, nth);
        matmul(c, &L->wv, sv, n, c->v, ith, nth);
        smelt_pool_barrier(c->pool);
        const bool swa = smelt_layer_is_swa(hp, il);
        for (int64_t t = t0; t < t1; t++)
            qkv_heads(c, il, c->q + t * QD, c->k + t * KD, c->v + t * KD,
                      c->rope_cs + (t * 2 + (swa ? 1 : 0)) * hp->n_rot, c->cell_of[t], 0, H, 0, hp->n_head_kv);
        smelt_pool_barrier(c->pool);
        if (c->kt) {
            attention_batched(f, il, ith, nth); /* ends with a barrier */
        } else {
            attention(f, il, ith, nth);
            smelt_pool_barrier(c->pool);
        }
        struct act_slots so = {0};
        const int s_o = slot_of(&so, vdt_of(&L->wo));
        quantize_slots(c, &so, c->att, QD, t0, t1, n);
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
            if (hp->post_norms) rmsnorm(o, o, L->post_attn_norm.data, E, hp->norm_eps, c->kt != NULL);
            for (int64_t i = 0; i < E; i++) x[i] += o[i];
            rmsnorm(o, x, L->ffn_norm.data, E, hp->norm_eps, c->kt != NULL);
        }
        quantize_slots(c, &sf, c->xn, E, t0, t1, nr);
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
        quantize_slots(c, &sd, c->gate, F, t0, t1, nr);
        smelt_pool_barrier(c->pool);
        observe(c, ith, &L->w_down, NULL, NULL, c->gate, rpos, nr, F);
        matmul(c, &L->w_down, s_d, nr, c->xn, ith, nth);
        smelt_pool_barrier(c->pool);
        for (int64_t t = t0; t < t1; t++) {
            float *x = c->x + t * E, *o = c->xn + t * E;
            if (hp->post_norms) rmsnorm(o, o, L->post_ffn_norm.data, E, hp->norm_eps, c->kt != NULL);
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
        rmsnorm(c->xn + t * E, c->x + t * E, m->output_norm.data, E, hp->norm_eps, c->kt != NULL);
        quantize_slots(c, &sl, c->xn, E, t, t + 1, nr);
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

/* Quantize x (K floats) for the weights ws[0..n) into per-type rows of xq
 * (stride xq_row); slot[i] receives the row of ws[i]. */
static void quantize_for(const struct smelt_ctx *c, const struct smelt_weight *const *ws, int n, const float *x,
                         int64_t K, char *xq, char *xa, int *slot) {
    struct act_slots sl = {0};
    for (int i = 0; i < n; i++) {
        const int before = sl.n;
        slot[i] = slot_of(&sl, vdt_of(ws[i]));
        if (sl.n == before) continue;
        const uint32_t t = sl.type[slot[i]];
        char *row = xq + (size_t)slot[i] * c->xq_row;
        smelt_quantize_rows(x, 1, K, t, row);
        if (xa && K % 32 == 0 && (t == SMELT_TYPE_Q8_0 || t == SMELT_TYPE_Q8_1))
            smelt_x16_xa_prep(t, row, K, 0, 1, xa + (size_t)slot[i] * c->xa_row);
    }
}

/* the prepared activations of slot i in a thread's decode area, or NULL */
static const void *slot_xa(const struct smelt_ctx *c, const char *xa, int i, uint32_t vdt, int64_t K) {
    return xa && K % 32 == 0 && (vdt == SMELT_TYPE_Q8_0 || vdt == SMELT_TYPE_Q8_1) ? xa + (size_t)i * c->xa_row
                                                                                  : NULL;
}

/* Row chunks of the one-token matmuls are handed out from a counter, so that
 * a thread slowed by the machine (a shared VM, uneven memory bandwidth) takes
 * fewer of them. A chunk holds a multiple of `unit` rows (a multiple of 16)
 * and at most DECODE_CHUNK_BYTES of weights: long chunks are long sequential
 * read streams. Zen 4 VM (session 5): 32 KiB chunks 20 % slower than static
 * halves, 128-512 KiB about 5 % faster. Zen 5 VM (session 6): 512 KiB-1 MiB
 * 5-10 % faster than 128 KiB (dev/speed/RESULTS.md). The per-layer matrices
 * of the small models then come in one chunk per thread; big ones (the
 * output matrix) in many. */
#define DECODE_CHUNK_BYTES ((int64_t)1 << 20)

/* A one-token matmul of w is cut into a multiple of nth chunks of at most
 * DECODE_CHUNK_BYTES: equal chunk counts per thread, so that the threads,
 * when equally fast, reach the barrier after it together. */
static int64_t decode_chunks(const struct smelt_weight *w, int nth) {
    const int64_t bytes = w->ne1 * (int64_t)w->row_bytes, per = (int64_t)nth * DECODE_CHUNK_BYTES;
    return nth * ((bytes + per - 1) / per);
}

/* rows [*r0, *r1) of chunk k of n over `rows` rows cut in units of `unit`
 * rows (the chunks differ by at most one unit; the last unit may be short) */
static void chunk_range(int64_t rows, int64_t unit, int64_t n, int64_t k, int64_t *r0, int64_t *r1) {
    const int64_t units = (rows + unit - 1) / unit;
    *r0 = units * k / n * unit;
    *r1 = units * (k + 1) / n * unit;
    if (*r1 > rows) *r1 = rows;
}

/* The rows of up to 3 weights multiplying the same token, taken chunk by
 * chunk from *ctr: weight i reads xq + slot[i] * xq_row and writes y[i]. */
static void matmul_shared(const struct smelt_ctx *c, const struct smelt_weight *const *ws, int n, const char *xq,
                          const char *xa, const int *slot, float *const *y, _Atomic int64_t *ctr, int nth) {
    int64_t first[4] = {0};
    for (int i = 0; i < n; i++) first[i + 1] = first[i] + decode_chunks(ws[i], nth);
    for (;;) {
        const int64_t k = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        if (k >= first[n]) return;
        int i = 0;
        while (k >= first[i + 1]) i++;
        int64_t r0, r1;
        chunk_range(ws[i]->ne1, 16, first[i + 1] - first[i], k - first[i], &r0, &r1);
        if (r0 < r1)
            matmul_rows(c, ws[i], xq + (size_t)slot[i] * c->xq_row, slot_xa(c, xa, slot[i], vdt_of(ws[i]), ws[i]->ne0), r0,
                    r1, 1, y[i]);
    }
}

/* attention work (cells x query heads x head size) from which a decode step
 * shares query heads rather than KV heads among threads (~4 us of FMAs) */
#define DECODE_SPLIT_WORK (1 << 17)

/* One token (n == 1) when the context has the per-thread decode buffers (the
 * AVX-512 tier): the element-wise steps run on every thread on its own copy of
 * the residual stream, so that only the matmul and attention results are
 * exchanged, with 5 barriers per layer instead of 11. Each thread handles whole
 * KV heads (RoPE, cache store, attention; see DECODE_SPLIT_WORK); the FFN's gate/up rows are split on
 * block boundaries of the down matmul's activation type, so every thread
 * applies the activation to its rows and quantizes them in place. The
 * arithmetic is that of forward_worker step for step, so the logits are the
 * same bits. */
static void decode_worker(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    struct smelt_ctx *c = f->c;
    const struct smelt_model *m = c->model;
    const struct smelt_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, H = hp->n_head, HD = hp->head_dim, QD = H * HD, NKV = hp->n_head_kv,
                  G = H / NKV, F = hp->n_ff;
    float *x = c->dx + (size_t)ith * c->d_stride, *xn = c->dxn + (size_t)ith * c->d_stride;
    float *cs = c->dcs + (size_t)ith * 2 * hp->n_rot;
    char *xq = (char *)c->dxq + (size_t)ith * SMELT_XQ_SLOTS * c->xq_row;
    char *xa = c->dxa ? (char *)c->dxa + (size_t)ith * SMELT_XQ_SLOTS * c->xa_row : NULL;
    int32_t *cpos = c->dcpos + (size_t)ith * c->attn_ld;
    float *qf = c->attn_acc + (size_t)ith * 32 * HD, *sc = c->scores + (size_t)ith * G * c->scores_stride;
    uint16_t *qh = c->qh + (size_t)ith * HD;
    const int32_t p = f->pos[0], cell = c->cell_of[0], out = c->out_row[0];
    const int64_t nc = c->vis_n[0];
    int32_t c0 = -1;
    if (!list_in_place(c, c->vis_off[0], nc, &c0)) c0 = -1;
    /* When the KV heads do not divide among the threads (Gemma 3 has one) and
     * the context is long enough for attention to matter, the query heads are
     * shared out instead, at the cost of one more barrier per layer. */
    const bool split = NKV % nth != 0 && nc * H * HD >= DECODE_SPLIT_WORK;
    embed(m, f->token[0], x);
    rope_angles(m, p, cs);
    int sl[3];
    for (int il = 0; il < hp->n_layer; il++) {
        const struct smelt_layer *L = &m->layers[il];
        /* attention block */
        rmsnorm(xn, x, L->attn_norm.data, E, hp->norm_eps, c->kt != NULL);
        const struct smelt_weight *wqkv[3] = {&L->wq, &L->wk, &L->wv};
        quantize_for(c, wqkv, 3, xn, E, xq, xa, sl);
        _Atomic int64_t *ctr = c->dctr + (size_t)il * 4 * DCTR_STRIDE;
        matmul_shared(c, wqkv, 3, xq, xa, sl, (float *const[]){c->q, c->k, c->v}, ctr, nth);
        smelt_pool_barrier(c->pool);
        const bool swa = smelt_layer_is_swa(hp, il);
        for (int64_t kvh = ith; kvh < NKV; kvh += nth) {
            qkv_heads(c, il, c->q, c->k, c->v, cs + (swa ? hp->n_rot : 0), cell, kvh * G, (kvh + 1) * G, kvh, kvh + 1);
            if (c0 < 0) {
                const int64_t npad = (nc + SMELT_ATTN_PAD - 1) & ~(int64_t)(SMELT_ATTN_PAD - 1);
                smelt_attn_gather(c->kv.k + (size_t)il * c->kv.layer_stride,
                                  c->kv.v + (size_t)il * c->kv.layer_stride, c->kv.pos, c->vis + c->vis_off[0], nc, 0,
                                  npad, kvh, kvh + 1, c->kv.n_blk, NKV * HD, HD, c->attn_ld, c->kt, c->vf, cpos);
            }
            if (!split) attn_kv_head(c, il, 0, kvh, 0, G, c0, nc, cpos, p, qf, qh, sc);
        }
        if (split) {
            /* the KV heads are stored (and gathered): now every thread takes an
             * equal share of the query heads */
            smelt_pool_barrier(c->pool);
            if (c0 < 0) { /* the owners' gathers wrote their own positions */
                const int32_t *cells = c->vis + c->vis_off[0];
                for (int64_t j = 0; j < nc; j++) cpos[j] = c->kv.pos[cells[j]];
            }
            const int64_t h0 = H * ith / nth, h1 = H * (ith + 1) / nth;
            for (int64_t h = h0; h < h1;) {
                const int64_t kvh = h / G, e = (kvh + 1) * G < h1 ? (kvh + 1) * G : h1;
                attn_kv_head(c, il, 0, kvh, h - kvh * G, e - kvh * G, c0, nc, cpos, p, qf, qh, sc);
                h = e;
            }
        }
        smelt_pool_barrier(c->pool);
        if (il == hp->n_layer - 1 && out < 0) return; /* the cache is complete; no logits wanted */
        quantize_for(c, (const struct smelt_weight *const[]){&L->wo}, 1, c->att, QD, xq, xa, sl);
        matmul_shared(c, (const struct smelt_weight *const[]){&L->wo}, 1, xq, xa, sl, (float *const[]){c->xn},
                      ctr + DCTR_STRIDE, nth);
        smelt_pool_barrier(c->pool);

        /* FFN block */
        memcpy(xn, c->xn, (size_t)E * sizeof *xn);
        if (hp->post_norms) rmsnorm(xn, xn, L->post_attn_norm.data, E, hp->norm_eps, c->kt != NULL);
        for (int64_t i = 0; i < E; i++) x[i] += xn[i];
        rmsnorm(xn, x, L->ffn_norm.data, E, hp->norm_eps, c->kt != NULL);
        const struct smelt_weight *wgu[2] = {&L->w_gate, &L->w_up};
        quantize_for(c, wgu, 2, xn, E, xq, xa, sl);
        /* gate/up rows in units of the down activation's blocks (and of 16 rows) */
        const uint32_t dvt = vdt_of(&L->w_down);
        int64_t unit = smelt_quant_traits(dvt)->blck;
        while (unit % 16) unit *= 2;
        const int64_t gn = decode_chunks(&L->w_gate, nth); /* each chunk: its gate and its up rows */
        for (;;) {
            const int64_t k = atomic_fetch_add_explicit(ctr + 2 * DCTR_STRIDE, 1, memory_order_relaxed);
            if (k >= gn) break;
            int64_t r0, r1;
            chunk_range(F, unit, gn, k, &r0, &r1);
            if (r0 >= r1) continue;
            matmul_rows(c, &L->w_gate, xq + (size_t)sl[0] * c->xq_row, slot_xa(c, xa, sl[0], vdt_of(&L->w_gate), E), r0,
                        r1, 1, c->gate);
            matmul_rows(c, &L->w_up, xq + (size_t)sl[1] * c->xq_row, slot_xa(c, xa, sl[1], vdt_of(&L->w_up), E), r0, r1,
                        1, c->up);
            if (hp->act == SMELT_ACT_SILU)
                smelt_swiglu_f32(r1 - r0, c->gate + r0, c->up + r0);
            else
                smelt_geglu_f16(r1 - r0, c->gate + r0, c->up + r0, gelu_table);
            smelt_quantize_rows(c->gate + r0, 1, r1 - r0, dvt, (char *)c->xq[0] + smelt_quant_row_size(dvt, r0));
        }
        smelt_pool_barrier(c->pool);
        const int zero = 0;
        matmul_shared(c, (const struct smelt_weight *const[]){&L->w_down}, 1, c->xq[0], NULL, &zero, (float *const[]){c->x},
                      ctr + 3 * DCTR_STRIDE, nth);
        smelt_pool_barrier(c->pool);
        memcpy(xn, c->x, (size_t)E * sizeof *xn);
        if (hp->post_norms) rmsnorm(xn, xn, L->post_ffn_norm.data, E, hp->norm_eps, c->kt != NULL);
        for (int64_t i = 0; i < E; i++) x[i] += xn[i];
    }

    /* output */
    rmsnorm(xn, x, m->output_norm.data, E, hp->norm_eps, c->kt != NULL);
    quantize_for(c, (const struct smelt_weight *const[]){&m->output}, 1, xn, E, xq, xa, sl);
    float *logits = c->logits + (size_t)out * hp->n_vocab;
    matmul_shared(c, (const struct smelt_weight *const[]){&m->output}, 1, xq, xa, sl, (float *const[]){logits},
                  c->dctr + (size_t)hp->n_layer * 4 * DCTR_STRIDE, nth);
    smelt_pool_barrier(c->pool);
    if (hp->logit_softcap > 0) {
        int64_t r0, r1;
        split_rows(m->output.ne1, ith, nth, &r0, &r1);
        const float cap = hp->logit_softcap, inv_cap = 1.0f / cap;
        for (int64_t r = r0; r < r1; r++) logits[r] = tanhf(logits[r] * inv_cap) * cap;
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
    const bool one = n == 1 && c->dx && !c->act_hook;
    if (one) memset((void *)c->dctr, 0, c->dctr_bytes);
    smelt_pool_run(c->pool, one ? decode_worker : forward_worker, &f);
    return SMELT_OK;
}
