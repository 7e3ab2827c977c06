/* Importance matrix collection (smelt_imatrix_*): sums of squared matmul inputs
 * per weight and input column, observed through the context's act hook, saved
 * in llama.cpp's GGUF imatrix format (include/smelt/quantize.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model_internal.h"
#include "smelt/gguf.h"
#include "smelt/quantize.h"

struct im_entry {
    const char *name; /* the model's tensor name (stable while the model lives) */
    int64_t n_in;
    double *sum2;     /* [n_in] */
    uint64_t count;   /* tokens */
};

struct smelt_imatrix {
    struct smelt_ctx *c;
    bool with_output;
    struct im_entry *e;
    int64_t n, cap;
    uint32_t n_chunks, chunk_size;
    bool oom; /* an allocation failed inside the hook; reported by save */
};

static struct im_entry *entry_for(struct smelt_imatrix *im, const char *name, int64_t n_in) {
    for (int64_t i = 0; i < im->n; i++)
        if (im->e[i].name == name || strcmp(im->e[i].name, name) == 0) return &im->e[i];
    if (im->n == im->cap) {
        int64_t cap = im->cap ? 2 * im->cap : 64;
        struct im_entry *p = realloc(im->e, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        im->e = p;
        im->cap = cap;
    }
    double *s = calloc((size_t)n_in, sizeof *s);
    if (!s) return NULL;
    im->e[im->n] = (struct im_entry){name, n_in, s, 0};
    return &im->e[im->n++];
}

static void hook(void *ud, const char *weight, const float *x, int64_t n_tok, int64_t n_in) {
    struct smelt_imatrix *im = ud;
    /* outside the blocks only the output matrix (output.weight, or token_embd.weight when tied) is a matmul */
    if (strncmp(weight, "blk.", 4) != 0 && !im->with_output) return;
    struct im_entry *e = entry_for(im, weight, n_in);
    if (!e) {
        im->oom = true;
        return;
    }
    if (e->n_in != n_in) { /* cannot happen for one model; refuse silently-wrong sums */
        im->oom = true;
        return;
    }
    for (int64_t t = 0; t < n_tok; t++) {
        const float *r = x + t * n_in;
        for (int64_t j = 0; j < n_in; j++) e->sum2[j] += (double)r[j] * (double)r[j];
    }
    e->count += (uint64_t)n_tok;
}

enum smelt_status smelt_imatrix_new(struct smelt_ctx *c, bool with_output, struct smelt_imatrix **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_new: out is NULL");
    *out = NULL;
    if (!c) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_new: NULL context");
    if (c->act_hook) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_new: the context already has an observer");
    struct smelt_imatrix *im = smelt_calloc(1, sizeof *im);
    if (!im) return SMELT_ERR_NOMEM;
    im->c = c;
    im->with_output = with_output;
    smelt_ctx_set_act_hook(c, hook, im);
    *out = im;
    return SMELT_OK;
}

void smelt_imatrix_free(struct smelt_imatrix *im) {
    if (!im) return;
    if (im->c && im->c->act_hook == hook && im->c->act_hook_ud == im) smelt_ctx_set_act_hook(im->c, NULL, NULL);
    for (int64_t i = 0; i < im->n; i++) free(im->e[i].sum2);
    free(im->e);
    free(im);
}

int64_t smelt_imatrix_n_entries(const struct smelt_imatrix *im) { return im ? im->n : 0; }

void smelt_imatrix_set_chunks(struct smelt_imatrix *im, uint32_t n_chunks, uint32_t chunk_size) {
    if (!im) return;
    im->n_chunks = n_chunks;
    im->chunk_size = chunk_size;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct im_entry *)a)->name, ((const struct im_entry *)b)->name);
}

enum smelt_status smelt_imatrix_save(const struct smelt_imatrix *im, const char *path, const char *dataset) {
    if (!im || !path) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_save: invalid argument");
    if (im->oom) return smelt_err(SMELT_ERR_NOMEM, "imatrix: out of memory while collecting statistics");
    if (im->n == 0)
        return smelt_err(SMELT_ERR_INVALID_ARG, "imatrix: no statistics collected (no tokens were evaluated)");
    /* deterministic order: by tensor name, like llama-imatrix */
    struct im_entry *sorted = smelt_malloc((size_t)im->n * sizeof *sorted);
    float **bufs = smelt_calloc((size_t)im->n * 2, sizeof *bufs);
    struct smelt_gguf_writer *w = NULL;
    enum smelt_status s = (sorted && bufs) ? smelt_gguf_writer_new(&w) : SMELT_ERR_NOMEM;
    if (s) goto done;
    memcpy(sorted, im->e, (size_t)im->n * sizeof *sorted);
    qsort(sorted, (size_t)im->n, sizeof *sorted, cmp_entry);
    const char *ds[1] = {dataset ? dataset : ""};
    s = smelt_gguf_writer_set_str(w, "general.type", "imatrix");
    if (!s) s = smelt_gguf_writer_set_arr_str(w, "imatrix.datasets", ds, 1);
    if (!s) s = smelt_gguf_writer_set_u32(w, "imatrix.chunk_count", im->n_chunks);
    if (!s) s = smelt_gguf_writer_set_u32(w, "imatrix.chunk_size", im->chunk_size);
    for (int64_t i = 0; !s && i < im->n; i++) {
        const struct im_entry *e = &sorted[i];
        float *v = smelt_malloc((size_t)e->n_in * sizeof *v), *cnt = smelt_malloc(sizeof *cnt);
        bufs[2 * i] = v;
        bufs[2 * i + 1] = cnt;
        if (!v || !cnt) {
            s = SMELT_ERR_NOMEM;
            break;
        }
        for (int64_t j = 0; j < e->n_in; j++) v[j] = (float)e->sum2[j];
        cnt[0] = (float)e->count;
        char name[512];
        const int64_t ne_v[2] = {e->n_in, 1}, ne_c[2] = {1, 1};
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        s = smelt_gguf_writer_add_tensor(w, name, SMELT_TYPE_F32, 2, ne_v, v, NULL);
        if (s) break;
        snprintf(name, sizeof name, "%s.counts", e->name);
        s = smelt_gguf_writer_add_tensor(w, name, SMELT_TYPE_F32, 2, ne_c, cnt, NULL);
    }
    if (!s) s = smelt_gguf_writer_write_file(w, path);
done:
    smelt_gguf_writer_free(w);
    if (bufs)
        for (int64_t i = 0; i < 2 * im->n; i++) free(bufs[i]);
    free(bufs);
    free(sorted);
    return s;
}
