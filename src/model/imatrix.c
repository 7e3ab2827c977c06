/* Importance matrix collection (smelt_imatrix_*): sums of squared matmul inputs
 * per weight and input column, observed through the context's act hook, saved
 * in llama.cpp's GGUF imatrix format (include/smelt/quantize.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "base/base.h"
#include "imatrix_int.h"
#include "model_internal.h"
#include "smelt/gguf.h"
#include "smelt/quantize.h"

struct im_entry {
    const char *key;  /* the model's tensor name (fast match while attached) */
    char *name;       /* a copy, valid after the model is gone */
    int64_t n_in;
    double *sum2;     /* [n_in] */
    uint64_t count;   /* tokens */
    int64_t group;    /* index of its input's second-moment group, -1 if none */
};

/* Full second moments of one distinct matmul input (the weights that multiply
 * the same x share it): cov = sum over tokens of x x^T, upper triangle while
 * collecting (ssyrk), mirrored by im_finish(). Rows wait in buf until IM_BUF
 * of them make one rank-k update. */
#define IM_BUF 256
struct im_group {
    int64_t n_in;
    float *cov;  /* [n_in][n_in] */
    float *buf;  /* [IM_BUF][n_in] */
    int64_t nbuf;
    uint64_t count;
};

struct smelt_imatrix {
    struct smelt_ctx *c;
    bool with_output;
    struct im_entry *e;
    int64_t n, cap;
    uint32_t n_chunks, chunk_size;
    bool oom; /* an allocation failed inside the hook; reported by save */
    /* full second moments (smelt_imatrix_collect_full) */
    bool full, full_dropped, finished;
    float pos0_w; /* weight of position-0 rows in the second moments */
    uint64_t full_bytes, full_max;
    struct im_group *g;
    int64_t ng, gcap;
};

static struct im_entry *entry_for(struct smelt_imatrix *im, const char *name, int64_t n_in) {
    for (int64_t i = 0; i < im->n; i++)
        if (im->e[i].key == name || strcmp(im->e[i].name, name) == 0) return &im->e[i];
    if (im->n == im->cap) {
        int64_t cap = im->cap ? 2 * im->cap : 64;
        struct im_entry *p = realloc(im->e, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        im->e = p;
        im->cap = cap;
    }
    double *s = calloc((size_t)n_in, sizeof *s);
    char *copy = strdup(name);
    if (!s || !copy) {
        free(s);
        free(copy);
        return NULL;
    }
    im->e[im->n] = (struct im_entry){name, copy, n_in, s, 0, -1};
    return &im->e[im->n++];
}

static void drop_full(struct smelt_imatrix *im) {
    for (int64_t i = 0; i < im->ng; i++) {
        free(im->g[i].cov);
        free(im->g[i].buf);
    }
    free(im->g);
    im->g = NULL;
    im->ng = im->gcap = 0;
    for (int64_t i = 0; i < im->n; i++) im->e[i].group = -1;
    im->full = false;
    im->full_dropped = true;
}

static void group_update(struct im_group *g, const float *x, int64_t n_tok) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)g->n_in, (blasint)n_tok, 1.0f, x, (blasint)g->n_in,
                1.0f, g->cov, (blasint)g->n_in);
}

static void group_flush(struct im_group *g) {
    if (g->nbuf) group_update(g, g->buf, g->nbuf);
    g->nbuf = 0;
}

static void group_add(struct im_group *g, const float *x, const int32_t *pos, float pos0_w, int64_t n_tok) {
    bool plain = true;
    for (int64_t t = 0; pos && pos0_w != 1.0f && t < n_tok; t++) plain &= pos[t] != 0;
    g->count += (uint64_t)n_tok;
    if (!plain) { /* rows at position 0 count pos0_w times: scaled by its square root */
        const float sw = sqrtf(pos0_w);
        for (int64_t t = 0; t < n_tok; t++) {
            if (g->nbuf == IM_BUF) group_flush(g);
            float *dst = g->buf + g->nbuf * g->n_in;
            const float *src = x + t * g->n_in;
            if (pos[t] == 0)
                for (int64_t j = 0; j < g->n_in; j++) dst[j] = src[j] * sw;
            else
                memcpy(dst, src, (size_t)g->n_in * sizeof(float));
            g->nbuf++;
        }
        if (g->nbuf == IM_BUF) group_flush(g);
        return;
    }
    if (g->nbuf == 0 && n_tok >= IM_BUF) {
        group_update(g, x, n_tok);
        return;
    }
    while (n_tok > 0) {
        int64_t k = IM_BUF - g->nbuf < n_tok ? IM_BUF - g->nbuf : n_tok;
        memcpy(g->buf + g->nbuf * g->n_in, x, (size_t)(k * g->n_in) * sizeof(float));
        g->nbuf += k;
        x += k * g->n_in;
        n_tok -= k;
        if (g->nbuf == IM_BUF) group_flush(g);
    }
}

/* The group of the input that `e` (first of the call's weights) multiplies, created on first sight. */
static struct im_group *group_for(struct smelt_imatrix *im, struct im_entry **es, int n, int64_t n_in) {
    if (es[0]->group >= 0) return &im->g[es[0]->group];
    const uint64_t need = ((uint64_t)n_in * (uint64_t)n_in + (uint64_t)IM_BUF * (uint64_t)n_in) * sizeof(float);
    if (im->full_bytes + need > im->full_max) {
        smelt_log(1, "imatrix: the second-moment matrices need more than %.1f GiB; collecting the diagonal only",
                  (double)im->full_max / 1073741824.0);
        drop_full(im);
        return NULL;
    }
    if (im->ng == im->gcap) {
        int64_t cap = im->gcap ? 2 * im->gcap : 32;
        struct im_group *p = realloc(im->g, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        im->g = p;
        im->gcap = cap;
    }
    struct im_group g = {.n_in = n_in};
    g.cov = calloc((size_t)(n_in * n_in), sizeof(float));
    g.buf = malloc((size_t)(IM_BUF * n_in) * sizeof(float));
    if (!g.cov || !g.buf) {
        free(g.cov);
        free(g.buf);
        return NULL;
    }
    im->full_bytes += need;
    im->g[im->ng] = g;
    for (int i = 0; i < n; i++) es[i]->group = im->ng;
    return &im->g[im->ng++];
}

/* Adds one matmul input to the statistics; false when memory ran out. */
static bool observe_input(struct smelt_imatrix *im, const char *const *names, int n_names, const float *x,
                          const int32_t *pos, int64_t n_tok, int64_t n_in) {
    struct im_entry *es[8];
    int64_t idx[8];
    int n = 0;
    for (int i = 0; i < n_names && n < 8; i++) {
        /* outside the blocks only the output matrix (output.weight, or token_embd.weight when tied) is a matmul */
        if (strncmp(names[i], "blk.", 4) != 0 && !im->with_output) continue;
        struct im_entry *e = entry_for(im, names[i], n_in);
        if (!e || e->n_in != n_in) return false; /* a mismatch cannot happen for one model; refuse wrong sums */
        idx[n++] = e - im->e;
    }
    if (!n) return true;
    for (int i = 0; i < n; i++) es[i] = &im->e[idx[i]]; /* after entry_for may have moved the array */
    for (int i = 0; i < n; i++) {
        double *s2 = es[i]->sum2;
        for (int64_t t = 0; t < n_tok; t++) {
            const float *r = x + t * n_in;
            for (int64_t j = 0; j < n_in; j++) s2[j] += (double)r[j] * (double)r[j];
        }
        es[i]->count += (uint64_t)n_tok;
    }
    if (im->full) {
        struct im_group *g = group_for(im, es, n, n_in);
        if (g) group_add(g, x, pos, im->pos0_w, n_tok);
        else if (im->full) return false;
    }
    return true;
}

static void hook(void *ud, const char *const *names, int n_names, const float *x, const int32_t *pos, int64_t n_tok,
                 int64_t n_in) {
    struct smelt_imatrix *im = ud;
    if (!observe_input(im, names, n_names, x, pos, n_tok, n_in)) im->oom = true;
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

enum smelt_status smelt_imatrix_new_standalone(bool with_output, struct smelt_imatrix **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_new_standalone: out is NULL");
    *out = smelt_calloc(1, sizeof **out);
    if (!*out) return SMELT_ERR_NOMEM;
    (*out)->with_output = with_output;
    return SMELT_OK;
}

void smelt_imatrix_observe(struct smelt_imatrix *im, const char *const *names, int n_names, const float *x,
                           const int32_t *pos, int64_t n_tok, int64_t n_in) {
    if (im && !im->finished) hook(im, names, n_names, x, pos, n_tok, n_in);
}

enum smelt_status smelt_imatrix_collect_full(struct smelt_imatrix *im, uint64_t max_bytes, float pos0_weight) {
    if (!im) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_collect_full: NULL collector");
    if (im->n || im->finished)
        return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_imatrix_collect_full: call it before the first decode");
    im->full = true;
    im->full_dropped = false;
    im->full_max = max_bytes ? max_bytes : (uint64_t)4 << 30;
    im->pos0_w = pos0_weight >= 1.0f && isfinite(pos0_weight) ? pos0_weight : 1.0f;
    /* one BLAS thread: the collector runs inside one decode worker, and the sums stay
     * independent of the machine's core count */
    openblas_set_num_threads(1);
    return SMELT_OK;
}

bool smelt_imatrix_has_full(const struct smelt_imatrix *im) { return im && im->full && !im->oom && im->ng > 0; }

void smelt_imatrix_detach(struct smelt_imatrix *im) {
    if (!im) return;
    if (im->c && im->c->act_hook == hook && im->c->act_hook_ud == im) smelt_ctx_set_act_hook(im->c, NULL, NULL);
    im->c = NULL;
}

/* Flush pending rows and mirror the upper triangles (idempotent; the collector stays usable for save). */
static void im_finish(struct smelt_imatrix *im) {
    if (im->finished) return;
    smelt_imatrix_detach(im);
    im->finished = true;
    for (int64_t k = 0; k < im->ng; k++) {
        struct im_group *g = &im->g[k];
        group_flush(g);
        const int64_t d = g->n_in;
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < i; j++) g->cov[i * d + j] = g->cov[j * d + i];
        free(g->buf);
        g->buf = NULL;
    }
}

const float *smelt_imatrix_full_of(struct smelt_imatrix *im, const char *name, int64_t *n_in, uint64_t *count,
                                   int64_t *group) {
    if (!im || !im->full || im->oom) return NULL;
    im_finish(im);
    for (int64_t i = 0; i < im->n; i++) {
        const struct im_entry *e = &im->e[i];
        if (e->group < 0 || strcmp(e->name, name) != 0) continue;
        const struct im_group *g = &im->g[e->group];
        if (n_in) *n_in = g->n_in;
        if (count) *count = g->count;
        if (group) *group = e->group;
        return g->cov;
    }
    return NULL;
}

int64_t smelt_imatrix_n_groups(const struct smelt_imatrix *im) { return im && im->full ? im->ng : 0; }

void smelt_imatrix_free(struct smelt_imatrix *im) {
    if (!im) return;
    smelt_imatrix_detach(im);
    for (int64_t i = 0; i < im->n; i++) {
        free(im->e[i].sum2);
        free(im->e[i].name);
    }
    free(im->e);
    for (int64_t i = 0; i < im->ng; i++) {
        free(im->g[i].cov);
        free(im->g[i].buf);
    }
    free(im->g);
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
