/* Reading importance matrices in llama.cpp's GGUF format (imatrix_int.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "imatrix_int.h"

void smelt_imat_free(struct smelt_imat *im) {
    for (int64_t i = 0; i < im->n; i++) free(im->e[i].v);
    free(im->e);
    free(im->names);
    free(im->dataset);
    memset(im, 0, sizeof *im);
}

static const char *strip_suffix(const char *name, const char *suf, size_t *len) {
    size_t n = strlen(name), s = strlen(suf);
    if (n <= s || strcmp(name + n - s, suf) != 0) return NULL;
    *len = n - s;
    return name;
}

enum smelt_status smelt_imat_from_gguf(const struct smelt_gguf *g, const char *path, struct smelt_imat *im) {
    memset(im, 0, sizeof *im);
    enum smelt_status s;
    const char *type = NULL;
    size_t tl;
    if (smelt_gguf_get_str(g, "general.type", &type, &tl) == SMELT_OK && strcmp(type, "imatrix") != 0) {
        s = smelt_err(SMELT_ERR_FORMAT, "%s: general.type is '%s', not an importance matrix (imatrix)", path, type);
        goto fail;
    }
    const int64_t nt = smelt_gguf_n_tensors(g);
    int64_t n_sum = 0;
    for (int64_t i = 0; i < nt; i++) {
        size_t l;
        if (strip_suffix(smelt_gguf_tensor(g, i)->name, ".in_sum2", &l)) n_sum++;
    }
    if (n_sum == 0) {
        s = smelt_err(SMELT_ERR_FORMAT, "%s: no '<weight>.in_sum2' tensors: not an importance matrix in GGUF format "
                      "(llama.cpp's legacy .dat format is not supported)", path);
        goto fail;
    }
    im->e = smelt_calloc((size_t)n_sum, sizeof *im->e);
    size_t names_len = 0;
    for (int64_t i = 0; i < nt; i++) names_len += strlen(smelt_gguf_tensor(g, i)->name) + 1;
    im->names = smelt_malloc(names_len);
    if (!im->e || !im->names) {
        s = SMELT_ERR_NOMEM;
        goto fail;
    }
    char *np = im->names;
    for (int64_t i = 0; i < nt; i++) {
        const struct smelt_gguf_tensor *ts = smelt_gguf_tensor(g, i);
        size_t l;
        if (!strip_suffix(ts->name, ".in_sum2", &l)) {
            if (!strip_suffix(ts->name, ".counts", &l)) {
                s = smelt_err(SMELT_ERR_FORMAT, "%s: unexpected tensor '%s' (an imatrix holds only <weight>.in_sum2 "
                              "and <weight>.counts)", path, ts->name);
                goto fail;
            }
            continue;
        }
        char cname[600];
        if (l + 8 >= sizeof cname) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: tensor name '%.64s...' is too long", path, ts->name);
            goto fail;
        }
        memcpy(cname, ts->name, l);
        memcpy(cname + l, ".counts", 8);
        const struct smelt_gguf_tensor *tc = smelt_gguf_find_tensor(g, cname);
        if (!tc) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: '%s' has no matching '%s'", path, ts->name, cname);
            goto fail;
        }
        if (ts->type != SMELT_TYPE_F32 || tc->type != SMELT_TYPE_F32) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: '%s' and '%s' must be F32", path, ts->name, cname);
            goto fail;
        }
        const int64_t n_mat = ts->ne[1] * ts->ne[2] * ts->ne[3], n_in = ts->ne[0];
        if (tc->ne[0] != 1 || tc->ne[1] * tc->ne[2] * tc->ne[3] != n_mat) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: '%s' has %" PRId64 " count(s) for %" PRId64 " matrices", path, cname,
                          tc->ne[0] * tc->ne[1] * tc->ne[2] * tc->ne[3], n_mat);
            goto fail;
        }
        struct smelt_imat_entry *e = &im->e[im->n];
        e->n = n_in * n_mat;
        e->v = smelt_malloc((size_t)e->n * sizeof *e->v);
        if (!e->v) {
            s = SMELT_ERR_NOMEM;
            goto fail;
        }
        memcpy(np, ts->name, l);
        np[l] = 0;
        e->name = np;
        np += l + 1;
        im->n++;
        const float *sum = ts->data, *cnt = tc->data;
        for (int64_t m = 0; m < n_mat; m++) {
            float cf;
            memcpy(&cf, &cnt[m], sizeof cf);
            /* token counts, stored as floats; rounded like llama.cpp (a count below 0.5 is no tokens) */
            if (!isfinite(cf) || cf < 0 || cf > 1e15f) {
                s = smelt_err(SMELT_ERR_FORMAT, "%s: '%s' holds an invalid count (%g)", path, cname, (double)cf);
                goto fail;
            }
            const double c = floor((double)cf + 0.5);
            for (int64_t j = 0; j < n_in; j++) {
                float x;
                memcpy(&x, &sum[m * n_in + j], sizeof x);
                if (!isfinite(x) || x < 0) {
                    s = smelt_err(SMELT_ERR_FORMAT, "%s: '%s' value %" PRId64 " is %g (sums of squares must be finite "
                                  "and >= 0)", path, ts->name, m * n_in + j, (double)x);
                    goto fail;
                }
                /* no tokens seen: every column equally important, as llama.cpp does */
                e->v[m * n_in + j] = c > 0 ? (float)(x / c) : 1.0f;
            }
        }
    }
    const char *ds;
    size_t dl;
    if ((ds = smelt_gguf_arr_str(g, "imatrix.datasets", 0, &dl))) im->dataset = smelt_strdup(ds);
    uint32_t ch;
    if (smelt_gguf_get_u32(g, "imatrix.chunk_count", &ch) == SMELT_OK) im->chunks = ch;
    return SMELT_OK;
fail:
    smelt_imat_free(im);
    return s;
}

enum smelt_status smelt_imat_load(const char *path, struct smelt_imat *im) {
    memset(im, 0, sizeof *im);
    struct smelt_gguf *g = NULL;
    enum smelt_status s = smelt_gguf_open(path, &g);
    if (s) return smelt_err_prefix(s, "imatrix");
    s = smelt_imat_from_gguf(g, path, im);
    smelt_gguf_free(g);
    return s;
}

struct smelt_imat_entry *smelt_imat_find(struct smelt_imat *im, const char *name) {
    for (int64_t i = 0; i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0) return &im->e[i];
    return NULL;
}
