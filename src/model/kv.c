/* Multi-sequence KV cache: cells, each holding one position shared by a set of
 * sequences (bitmask). K and V are stored as f16: one row per cell, or (on
 * the AVX-512 tier, k_tiled) the keys in 64-cell tiles (kernels/attn.h). */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/attn.h"
#include "model_internal.h"

enum smelt_status smelt_kv_init(struct smelt_kv *kv, const struct smelt_hparams *hp, int32_t n_ctx, bool k_tiled) {
    memset(kv, 0, sizeof *kv);
    kv->n_ctx = n_ctx;
    kv->k_tiled = k_tiled;
    /* tiled keys come in blocks of 64 cells (kernels/attn.h) */
    kv->n_blk = (n_ctx + SMELT_ATTN_PAD - 1) / SMELT_ATTN_PAD;
    const size_t cells = k_tiled ? (size_t)kv->n_blk * SMELT_ATTN_PAD : (size_t)n_ctx;
    size_t kvdim = (size_t)hp->n_head_kv * (size_t)hp->head_dim, per_layer, total;
    if (!smelt_mul_ok(cells, kvdim, &per_layer) || !smelt_mul_ok(per_layer, (size_t)hp->n_layer, &total) ||
        !smelt_mul_ok(total, sizeof(uint16_t), &total))
        return smelt_err(SMELT_ERR_NOMEM, "KV cache size overflows for n_ctx=%d", n_ctx);
    kv->layer_stride = per_layer;
    kv->pos = smelt_malloc((size_t)n_ctx * sizeof *kv->pos);
    kv->seqs = smelt_calloc((size_t)n_ctx, sizeof *kv->seqs);
    kv->k = smelt_aligned_alloc(64, total);
    kv->v = smelt_aligned_alloc(64, total);
    if (!kv->pos || !kv->seqs || !kv->k || !kv->v) {
        smelt_kv_free(kv);
        return smelt_err(SMELT_ERR_NOMEM, "out of memory for a KV cache of %d cells (%zu MiB)", n_ctx,
                         2 * total >> 20);
    }
    for (int32_t i = 0; i < n_ctx; i++) kv->pos[i] = -1;
    return SMELT_OK;
}

void smelt_kv_free(struct smelt_kv *kv) {
    free(kv->pos);
    free(kv->seqs);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

static void cell_drop(struct smelt_kv *kv, int32_t c, uint64_t mask) {
    if (kv->pos[c] < 0) return;
    kv->seqs[c] &= ~mask;
    if (!kv->seqs[c]) {
        kv->pos[c] = -1;
        kv->n_used--;
        if (c < kv->head) kv->head = c;
    }
}

enum smelt_status smelt_kv_alloc(struct smelt_kv *kv, const int32_t *pos, const int32_t *seq, int32_t n,
                                 int32_t *cell_of) {
    /* Re-evaluating (seq, pos) replaces the cached entry. */
    int32_t pmin = pos[0], pmax = pos[0];
    for (int32_t i = 1; i < n; i++) {
        if (pos[i] < pmin) pmin = pos[i];
        if (pos[i] > pmax) pmax = pos[i];
    }
    for (int32_t c = 0; c < kv->n_ctx; c++) {
        int32_t p = kv->pos[c];
        if (p < pmin || p > pmax) continue;
        for (int32_t i = 0; i < n; i++)
            if (pos[i] == p && (kv->seqs[c] >> seq[i] & 1)) cell_drop(kv, c, 1ull << seq[i]);
    }
    if (kv->n_ctx - kv->n_used < n)
        return smelt_err(SMELT_ERR_RANGE, "context full: n_ctx=%d, %d cells in use, %d more needed", kv->n_ctx,
                         kv->n_used, n);
    int32_t c = kv->head;
    for (int32_t i = 0; i < n; i++) {
        while (kv->pos[c] >= 0) c = (c + 1) % kv->n_ctx;
        kv->pos[c] = pos[i];
        kv->seqs[c] = 1ull << seq[i];
        kv->n_used++;
        cell_of[i] = c;
    }
    kv->head = c;
    return SMELT_OK;
}

void smelt_kv_release(struct smelt_kv *kv, const int32_t *cell_of, int32_t n, const int32_t *seq) {
    for (int32_t i = 0; i < n; i++) cell_drop(kv, cell_of[i], 1ull << seq[i]);
}

static bool in_range(int32_t p, int32_t p0, int32_t p1) { return p >= p0 && (p1 < 0 || p < p1); }

void smelt_kv_clear(struct smelt_ctx *c) {
    struct smelt_kv *kv = &c->kv;
    for (int32_t i = 0; i < kv->n_ctx; i++) {
        kv->pos[i] = -1;
        kv->seqs[i] = 0;
    }
    kv->n_used = 0;
    kv->head = 0;
}

void smelt_kv_seq_rm(struct smelt_ctx *c, int32_t seq, int32_t p0, int32_t p1) {
    struct smelt_kv *kv = &c->kv;
    if (seq >= SMELT_MAX_SEQ) return;
    if (p0 < 0) p0 = 0;
    uint64_t mask = seq < 0 ? ~0ull : 1ull << seq;
    for (int32_t i = 0; i < kv->n_ctx; i++)
        if (kv->pos[i] >= 0 && (kv->seqs[i] & mask) && in_range(kv->pos[i], p0, p1)) cell_drop(kv, i, mask);
}

void smelt_kv_seq_cp(struct smelt_ctx *c, int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    struct smelt_kv *kv = &c->kv;
    if (src < 0 || dst < 0 || src >= SMELT_MAX_SEQ || dst >= SMELT_MAX_SEQ || src == dst) return;
    if (p0 < 0) p0 = 0;
    /* dst's own entries at the copied positions are replaced */
    smelt_kv_seq_rm(c, dst, p0, p1);
    for (int32_t i = 0; i < kv->n_ctx; i++)
        if (kv->pos[i] >= 0 && (kv->seqs[i] >> src & 1) && in_range(kv->pos[i], p0, p1))
            kv->seqs[i] |= 1ull << dst;
}

void smelt_kv_seq_keep(struct smelt_ctx *c, int32_t seq) {
    struct smelt_kv *kv = &c->kv;
    uint64_t keep = (seq >= 0 && seq < SMELT_MAX_SEQ) ? 1ull << seq : 0;
    for (int32_t i = 0; i < kv->n_ctx; i++)
        if (kv->pos[i] >= 0) cell_drop(kv, i, ~keep);
}

int32_t smelt_kv_seq_pos_max(const struct smelt_ctx *c, int32_t seq) {
    const struct smelt_kv *kv = &c->kv;
    int32_t m = -1;
    if (seq < 0 || seq >= SMELT_MAX_SEQ) return -1;
    for (int32_t i = 0; i < kv->n_ctx; i++)
        if (kv->pos[i] > m && (kv->seqs[i] >> seq & 1)) m = kv->pos[i];
    return m;
}

int32_t smelt_kv_used(const struct smelt_ctx *c) { return c->kv.n_used; }
