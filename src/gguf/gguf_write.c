/* smelt: GGUF v3 writer. The format and the API contract are described in
 * include/smelt/gguf.h.
 *
 * Key/values are kept encoded (the bytes that follow the u32 value type in
 * the file), so setting, replacing and copying a value verbatim are the same
 * operation. Tensor infos get their offsets when the header is emitted. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "smelt/gguf.h"
#include "gguf_int.h"

#define W_DEFAULT_ALIGNMENT 32u
#define W_MAX_NAME_LEN 65536u

struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val;
    size_t len;
};

struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    size_t nbytes;
    uint64_t offset; /* relative to the data section; set by layout() */
    const void *data;
};

struct smelt_gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    /* streamed write state */
    FILE *f;
    char *path, *tmp;
    int64_t next; /* next tensor to write */
    uint64_t written; /* bytes of the data section written so far */
    uint32_t align;
    bool failed;
};

/* ------------------------------------------------------------ encoding -- */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static bool buf_put(struct buf *b, const void *src, size_t n) {
    if (n > SIZE_MAX - b->n) return false;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n) {
            if (c > SIZE_MAX / 2) return false;
            c *= 2;
        }
        uint8_t *p = realloc(b->p, c);
        if (!p) return false;
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return true;
}

static bool buf_u32(struct buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return buf_put(b, x, 4);
}

static bool buf_u64(struct buf *b, uint64_t v) {
    return buf_u32(b, (uint32_t)v) && buf_u32(b, (uint32_t)(v >> 32));
}

static bool buf_str(struct buf *b, const char *s, size_t n) { return buf_u64(b, n) && buf_put(b, s, n); }

/* ------------------------------------------------------------- objects -- */

enum smelt_status smelt_gguf_writer_new(struct smelt_gguf_writer **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_writer_new: out is NULL");
    *out = smelt_calloc(1, sizeof **out);
    return *out ? SMELT_OK : SMELT_ERR_NOMEM;
}

void smelt_gguf_writer_free(struct smelt_gguf_writer *w) {
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        if (w->tmp) unlink(w->tmp);
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w->path);
    free(w->tmp);
    free(w);
}

static enum smelt_status check_name(const char *what, const char *name) {
    if (!name) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: %s is NULL", what);
    size_t n = strlen(name);
    if (n == 0 || n > W_MAX_NAME_LEN)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: %s '%.64s' has length %zu (must be 1..%u)", what,
                         name, n, W_MAX_NAME_LEN);
    return SMELT_OK;
}

static enum smelt_status check_mutable(const struct smelt_gguf_writer *w) {
    if (!w) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: NULL writer");
    if (w->f || w->failed || w->path)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: the file is already being written");
    return SMELT_OK;
}

static int64_t find_kv(const struct smelt_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return (int64_t)i;
    return -1;
}

/* Takes ownership of b->p in every case. */
static enum smelt_status set_encoded(struct smelt_gguf_writer *w, const char *key, uint32_t type, struct buf *b) {
    enum smelt_status s = check_mutable(w);
    if (!s) s = check_name("key", key);
    if (s) {
        free(b->p);
        return s;
    }
    int64_t i = find_kv(w, key);
    if (i >= 0) {
        free(w->kv[i].val);
        w->kv[i].val = b->p;
        w->kv[i].len = b->n;
        w->kv[i].type = type;
        return SMELT_OK;
    }
    if (w->n_kv == w->cap_kv) {
        size_t c = w->cap_kv ? 2 * w->cap_kv : 32;
        struct wkv *p = smelt_realloc(w->kv, c * sizeof *p);
        if (!p) {
            free(b->p);
            return SMELT_ERR_NOMEM;
        }
        w->kv = p;
        w->cap_kv = c;
    }
    char *k = smelt_strdup(key);
    if (!k) {
        free(b->p);
        return SMELT_ERR_NOMEM;
    }
    w->kv[w->n_kv++] = (struct wkv){k, type, b->p, b->n};
    return SMELT_OK;
}

static enum smelt_status set_scalar(struct smelt_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    struct buf b = {0};
    bool ok;
    switch (smelt_gguf_vtype_size(type)) {
    case 1: ok = buf_put(&b, &(uint8_t){(uint8_t)bits}, 1); break;
    case 4: ok = buf_u32(&b, (uint32_t)bits); break;
    default: ok = buf_u64(&b, bits); break;
    }
    if (!ok) {
        free(b.p);
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_encoded(w, key, type, &b);
}

enum smelt_status smelt_gguf_writer_set_u32(struct smelt_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, SMELT_GGUF_UINT32, v);
}
enum smelt_status smelt_gguf_writer_set_i32(struct smelt_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, SMELT_GGUF_INT32, (uint32_t)v);
}
enum smelt_status smelt_gguf_writer_set_u64(struct smelt_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, SMELT_GGUF_UINT64, v);
}
enum smelt_status smelt_gguf_writer_set_f32(struct smelt_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, SMELT_GGUF_FLOAT32, bits);
}
enum smelt_status smelt_gguf_writer_set_bool(struct smelt_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, SMELT_GGUF_BOOL, v ? 1 : 0);
}

enum smelt_status smelt_gguf_writer_set_str(struct smelt_gguf_writer *w, const char *key, const char *v) {
    if (!v) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: value of '%.64s' is NULL", key ? key : "?");
    struct buf b = {0};
    if (!buf_str(&b, v, strlen(v))) {
        free(b.p);
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_encoded(w, key, SMELT_GGUF_STRING, &b);
}

enum smelt_status smelt_gguf_writer_set_arr(struct smelt_gguf_writer *w, const char *key,
                                            enum smelt_gguf_vtype elem_type, const void *data, uint64_t n) {
    size_t es = smelt_gguf_vtype_size(elem_type), total;
    if (!es)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': array element type %d is not a fixed-size type",
                         key ? key : "?", (int)elem_type);
    if ((n && !data) || n > SIZE_MAX || !smelt_mul_ok((size_t)n, es, &total))
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': invalid array data", key ? key : "?");
    if (elem_type == SMELT_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': bool element %" PRIu64 " is not 0 or 1",
                                 key ? key : "?", i);
    struct buf b = {0};
    if (!buf_u32(&b, elem_type) || !buf_u64(&b, n) || !buf_put(&b, data, total)) {
        free(b.p);
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_encoded(w, key, SMELT_GGUF_ARRAY, &b);
}

enum smelt_status smelt_gguf_writer_set_arr_str(struct smelt_gguf_writer *w, const char *key,
                                                const char *const *strs, uint64_t n) {
    if (n && !strs) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': NULL string array", key ? key : "?");
    struct buf b = {0};
    bool ok = buf_u32(&b, SMELT_GGUF_STRING) && buf_u64(&b, n);
    for (uint64_t i = 0; ok && i < n; i++) {
        if (!strs[i]) {
            free(b.p);
            return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': string %" PRIu64 " is NULL",
                             key ? key : "?", i);
        }
        ok = buf_str(&b, strs[i], strlen(strs[i]));
    }
    if (!ok) {
        free(b.p);
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_encoded(w, key, SMELT_GGUF_ARRAY, &b);
}

enum smelt_status smelt_gguf_writer_set_raw(struct smelt_gguf_writer *w, const char *key,
                                            enum smelt_gguf_vtype type, const void *data, size_t len) {
    if ((unsigned)type > SMELT_GGUF_FLOAT64 || (len && !data) || len == 0)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': invalid raw value", key ? key : "?");
    size_t es = smelt_gguf_vtype_size(type);
    if (es && len != es)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: '%.64s': raw value of %zu bytes for a %zu-byte type",
                         key ? key : "?", len, es);
    struct buf b = {0};
    if (!buf_put(&b, data, len)) {
        free(b.p);
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory");
    }
    return set_encoded(w, key, type, &b);
}

enum smelt_status smelt_gguf_writer_copy_kv(struct smelt_gguf_writer *w, const struct smelt_gguf *g, int64_t i) {
    enum smelt_gguf_vtype type;
    const void *data;
    size_t len;
    enum smelt_status s = smelt_gguf_kv_raw(g, i, &type, &data, &len);
    if (s) return s;
    return smelt_gguf_writer_set_raw(w, smelt_gguf_kv_key(g, i), type, data, len);
}

bool smelt_gguf_writer_remove(struct smelt_gguf_writer *w, const char *key) {
    if (check_mutable(w) || !key) return false;
    int64_t i = find_kv(w, key);
    if (i < 0) return false;
    free(w->kv[i].key);
    free(w->kv[i].val);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - (size_t)i - 1) * sizeof *w->kv);
    w->n_kv--;
    return true;
}

enum smelt_status smelt_gguf_writer_add_tensor(struct smelt_gguf_writer *w, const char *name, uint32_t type,
                                               uint32_t n_dims, const int64_t *ne, const void *data,
                                               int64_t *index) {
    if (index) *index = -1;
    enum smelt_status s = check_mutable(w);
    if (!s) s = check_name("tensor name", name);
    if (s) return s;
    uint32_t be, bb;
    if (!smelt_type_layout(type, &be, &bb))
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s': unknown type %" PRIu32, name, type);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s': n_dims %" PRIu32 " (must be 1..4)", name,
                         n_dims);
    struct wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .data = data};
    size_t nel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || !smelt_mul_ok(nel, (size_t)ne[d], &nel))
            return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s': dimension %" PRIu32 " = %" PRId64
                             " is invalid", name, d, ne[d]);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % be)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s': row of %" PRId64
                         " elements is not a multiple of %s's block size %" PRIu32, name, t.ne[0],
                         smelt_type_name(type), be);
    if (!smelt_mul_ok(nel / be, bb, &t.nbytes))
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s' is too large", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%.64s'", name);
    if (w->n_t == w->cap_t) {
        size_t c = w->cap_t ? 2 * w->cap_t : 64;
        struct wtensor *p = smelt_realloc(w->t, c * sizeof *p);
        if (!p) return SMELT_ERR_NOMEM;
        w->t = p;
        w->cap_t = c;
    }
    t.name = smelt_strdup(name);
    if (!t.name) return SMELT_ERR_NOMEM;
    w->t[w->n_t] = t;
    if (index) *index = (int64_t)w->n_t;
    w->n_t++;
    return SMELT_OK;
}

int64_t smelt_gguf_writer_n_tensors(const struct smelt_gguf_writer *w) { return w ? (int64_t)w->n_t : 0; }

size_t smelt_gguf_writer_tensor_nbytes(const struct smelt_gguf_writer *w, int64_t i) {
    return w && i >= 0 && (size_t)i < w->n_t ? w->t[i].nbytes : 0;
}

/* -------------------------------------------------------------- output -- */

static uint64_t pad_to(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

static enum smelt_status fail_io(struct smelt_gguf_writer *w, const char *what) {
    int e = errno;
    w->failed = true;
    return smelt_err(SMELT_ERR_IO, "%s: %s failed: %s", w->path ? w->path : "?", what, e ? strerror(e) : "error");
}

static bool write_zeros(FILE *f, uint64_t n) {
    static const uint8_t z[64];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        if (fwrite(z, 1, k, f) != k) return false;
        n -= k;
    }
    return true;
}

/* Alignment from general.alignment when set as a u32 power of two. */
static enum smelt_status get_alignment(const struct smelt_gguf_writer *w, uint32_t *align) {
    *align = W_DEFAULT_ALIGNMENT;
    int64_t i = find_kv(w, "general.alignment");
    if (i < 0) return SMELT_OK;
    const struct wkv *kv = &w->kv[i];
    uint32_t a = 0;
    if (kv->type == SMELT_GGUF_UINT32 && kv->len == 4)
        a = (uint32_t)kv->val[0] | (uint32_t)kv->val[1] << 8 | (uint32_t)kv->val[2] << 16 | (uint32_t)kv->val[3] << 24;
    if (a == 0 || (a & (a - 1)))
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: general.alignment must be a u32 power of two");
    *align = a;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_writer_open(struct smelt_gguf_writer *w, const char *path) {
    enum smelt_status s = check_mutable(w);
    if (s) return s;
    if (!path || !*path) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: empty output path");
    s = get_alignment(w, &w->align);
    if (s) return s;
    size_t pl = strlen(path);
    w->path = smelt_strdup(path);
    w->tmp = smelt_malloc(pl + 5);
    if (!w->path || !w->tmp) {
        w->failed = true;
        return SMELT_ERR_NOMEM;
    }
    memcpy(w->tmp, path, pl);
    memcpy(w->tmp + pl, ".tmp", 5);

    /* Header, key/values, tensor infos, in memory first. */
    struct buf b = {0};
    bool ok = buf_u32(&b, 0x46554747u) && buf_u32(&b, 3) && buf_u64(&b, w->n_t) && buf_u64(&b, w->n_kv);
    for (size_t i = 0; ok && i < w->n_kv; i++)
        ok = buf_str(&b, w->kv[i].key, strlen(w->kv[i].key)) && buf_u32(&b, w->kv[i].type) &&
             buf_put(&b, w->kv[i].val, w->kv[i].len);
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        t->offset = off;
        ok = buf_str(&b, t->name, strlen(t->name)) && buf_u32(&b, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = buf_u64(&b, (uint64_t)t->ne[d]);
        ok = ok && buf_u32(&b, t->type) && buf_u64(&b, t->offset);
        off = pad_to(off + t->nbytes, w->align);
    }
    if (!ok) {
        free(b.p);
        w->failed = true;
        return smelt_err(SMELT_ERR_NOMEM, "gguf writer: out of memory building the header");
    }
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        free(b.p);
        return fail_io(w, "creating the temporary file");
    }
    ok = fwrite(b.p, 1, b.n, w->f) == b.n && write_zeros(w->f, pad_to(b.n, w->align) - b.n);
    free(b.p);
    if (!ok) return fail_io(w, "write");
    w->next = 0;
    w->written = 0;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_writer_write_tensor(struct smelt_gguf_writer *w, int64_t i, const void *data,
                                                 size_t nbytes) {
    if (!w || !w->f || w->failed)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: write_tensor without an open file");
    if (i != w->next || (size_t)i >= w->n_t) {
        w->failed = true;
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor %" PRId64 " written out of order (expected %" PRId64
                         ")", i, w->next);
    }
    const struct wtensor *t = &w->t[i];
    if (nbytes != t->nbytes || (nbytes && !data)) {
        w->failed = true;
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s': %zu bytes given, %zu expected", t->name,
                         nbytes, t->nbytes);
    }
    if (fwrite(data, 1, nbytes, w->f) != nbytes) return fail_io(w, "write");
    uint64_t end = w->written + nbytes, padded = pad_to(end, w->align);
    if (!write_zeros(w->f, padded - end)) return fail_io(w, "write");
    w->written = padded;
    w->next++;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_writer_close(struct smelt_gguf_writer *w) {
    if (!w || !w->f || w->failed)
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: close without an open file");
    if ((size_t)w->next != w->n_t) {
        w->failed = true;
        return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: only %" PRId64 " of %zu tensors were written", w->next,
                         w->n_t);
    }
    FILE *f = w->f;
    w->f = NULL;
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        enum smelt_status s = fail_io(w, "write");
        unlink(w->tmp);
        return s;
    }
    if (rename(w->tmp, w->path) != 0) {
        enum smelt_status s = fail_io(w, "rename of the temporary file");
        unlink(w->tmp);
        return s;
    }
    return SMELT_OK;
}

enum smelt_status smelt_gguf_writer_write_file(struct smelt_gguf_writer *w, const char *path) {
    enum smelt_status s = check_mutable(w);
    if (s) return s;
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data)
            return smelt_err(SMELT_ERR_INVALID_ARG, "gguf writer: tensor '%.64s' has no data", w->t[i].name);
    s = smelt_gguf_writer_open(w, path);
    for (size_t i = 0; !s && i < w->n_t; i++) s = smelt_gguf_writer_write_tensor(w, (int64_t)i, w->t[i].data, w->t[i].nbytes);
    if (!s) s = smelt_gguf_writer_close(w);
    return s;
}
