/* smelt: GGUF reader (v2/v3). The format and the validation contract are
 * described in include/smelt/gguf.h.
 *
 * Structure of this file:
 *   type table          smelt_type_layout / smelt_type_name
 *   cursor              bounds-checked little-endian reads that fail with the offset
 *   string pool         stable storage for NUL-terminated copies of file strings
 *   name index          open-addressing hash over keys / tensor names
 *   parser              header, key/values, tensor infos, data section checks
 *   accessors, getters, printer
 *
 * Every count read from the file is checked against the bytes left before
 * anything is allocated for it, so allocations stay proportional to the file
 * size, and every loop consumes at least one byte per iteration (no hangs).
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "smelt/gguf.h"
#include "gguf_int.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_KEY_LEN 65536u  /* key / tensor name length limit (bytes) */
#define GGUF_MAX_ARRAY_DEPTH 8   /* nested arrays deeper than this are refused */
/* Smallest possible encodings, used to bound counts by the bytes left. */
#define GGUF_MIN_KV_BYTES 14u     /* u64 len + 1 key byte + u32 type + 1 value byte */
#define GGUF_MIN_TENSOR_BYTES 33u /* u64 len + 1 name byte + u32 n_dims + u64 ne + u32 type + u64 offset */

/* ---------------------------------------------------------------- types -- */

struct type_row {
    const char *name;
    uint32_t blck, bytes;
};

/* Block layouts from ggml's type_traits (ggml.c) / gguf-py GGML_QUANT_SIZES.
 * Rows with name == NULL are ids that were removed from the format. */
static const struct type_row g_types[] = {
    [SMELT_TYPE_F32] = {"F32", 1, 4},
    [SMELT_TYPE_F16] = {"F16", 1, 2},
    [SMELT_TYPE_Q4_0] = {"Q4_0", 32, 18},
    [SMELT_TYPE_Q4_1] = {"Q4_1", 32, 20},
    [SMELT_TYPE_Q5_0] = {"Q5_0", 32, 22},
    [SMELT_TYPE_Q5_1] = {"Q5_1", 32, 24},
    [SMELT_TYPE_Q8_0] = {"Q8_0", 32, 34},
    [SMELT_TYPE_Q8_1] = {"Q8_1", 32, 36},
    [SMELT_TYPE_Q2_K] = {"Q2_K", 256, 84},
    [SMELT_TYPE_Q3_K] = {"Q3_K", 256, 110},
    [SMELT_TYPE_Q4_K] = {"Q4_K", 256, 144},
    [SMELT_TYPE_Q5_K] = {"Q5_K", 256, 176},
    [SMELT_TYPE_Q6_K] = {"Q6_K", 256, 210},
    [SMELT_TYPE_Q8_K] = {"Q8_K", 256, 292},
    [SMELT_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [SMELT_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74},
    [SMELT_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [SMELT_TYPE_IQ1_S] = {"IQ1_S", 256, 50},
    [SMELT_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18},
    [SMELT_TYPE_IQ3_S] = {"IQ3_S", 256, 110},
    [SMELT_TYPE_IQ2_S] = {"IQ2_S", 256, 82},
    [SMELT_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136},
    [SMELT_TYPE_I8] = {"I8", 1, 1},
    [SMELT_TYPE_I16] = {"I16", 1, 2},
    [SMELT_TYPE_I32] = {"I32", 1, 4},
    [SMELT_TYPE_I64] = {"I64", 1, 8},
    [SMELT_TYPE_F64] = {"F64", 1, 8},
    [SMELT_TYPE_IQ1_M] = {"IQ1_M", 256, 56},
    [SMELT_TYPE_BF16] = {"BF16", 1, 2},
    [SMELT_TYPE_TQ1_0] = {"TQ1_0", 256, 54},
    [SMELT_TYPE_TQ2_0] = {"TQ2_0", 256, 66},
};
#define N_TYPE_ROWS (sizeof g_types / sizeof g_types[0])

bool smelt_type_layout(uint32_t type, uint32_t *block_elems, uint32_t *block_bytes) {
    if (type >= N_TYPE_ROWS || !g_types[type].name) {
        if (block_elems) *block_elems = 0;
        if (block_bytes) *block_bytes = 0;
        return false;
    }
    if (block_elems) *block_elems = g_types[type].blck;
    if (block_bytes) *block_bytes = g_types[type].bytes;
    return true;
}

const char *smelt_type_name(uint32_t type) {
    if (type >= N_TYPE_ROWS || !g_types[type].name) return "unknown";
    return g_types[type].name;
}

static const char *vtype_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                  "bool", "str", "arr", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "invalid";
}

size_t smelt_gguf_vtype_size(uint32_t t) {
    switch (t) {
    case SMELT_GGUF_UINT8: case SMELT_GGUF_INT8: case SMELT_GGUF_BOOL: return 1;
    case SMELT_GGUF_UINT16: case SMELT_GGUF_INT16: return 2;
    case SMELT_GGUF_UINT32: case SMELT_GGUF_INT32: case SMELT_GGUF_FLOAT32: return 4;
    case SMELT_GGUF_UINT64: case SMELT_GGUF_INT64: case SMELT_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* --------------------------------------------------------------- cursor -- */

struct cur {
    const uint8_t *base;
    size_t pos, size;
    const char *file;
};

static size_t cur_left(const struct cur *c) { return c->size - c->pos; }

static enum smelt_status cur_need(struct cur *c, uint64_t n, const char *what) {
    if (n > cur_left(c))
        return smelt_err(SMELT_ERR_FORMAT,
                         "%s: offset %zu: %s: truncated (needs %" PRIu64 " bytes, %zu left in file of %zu bytes)",
                         c->file, c->pos, what, n, cur_left(c), c->size);
    return SMELT_OK;
}

static uint32_t ld_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t ld_u64(const uint8_t *p) { return (uint64_t)ld_u32(p) | (uint64_t)ld_u32(p + 4) << 32; }
static uint16_t ld_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static enum smelt_status rd_u32(struct cur *c, uint32_t *v, const char *what) {
    enum smelt_status s = cur_need(c, 4, what);
    if (s) return s;
    *v = ld_u32(c->base + c->pos);
    c->pos += 4;
    return SMELT_OK;
}

static enum smelt_status rd_u64(struct cur *c, uint64_t *v, const char *what) {
    enum smelt_status s = cur_need(c, 8, what);
    if (s) return s;
    *v = ld_u64(c->base + c->pos);
    c->pos += 8;
    return SMELT_OK;
}

/* A gguf_string: u64 length + bytes. Returns a pointer into the image. */
static enum smelt_status rd_str(struct cur *c, const uint8_t **p, uint64_t *len, const char *what) {
    size_t at = c->pos;
    enum smelt_status s = rd_u64(c, len, what);
    if (s) return s;
    if (*len > cur_left(c))
        return smelt_err(SMELT_ERR_FORMAT,
                         "%s: offset %zu: %s: string length %" PRIu64 " runs past the end of the file (%zu bytes left)",
                         c->file, at, what, *len, cur_left(c));
    *p = c->base + c->pos;
    c->pos += (size_t)*len;
    return SMELT_OK;
}

/* ---------------------------------------------------------- string pool -- */

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    _Alignas(8) uint8_t mem[];
};

struct pool {
    struct pool_chunk *head;
};

static void *pool_alloc(struct pool *pl, size_t n) {
    n = (n + 7) & ~(size_t)7;
    struct pool_chunk *ch = pl->head;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        ch = smelt_malloc(sizeof *ch + cap);
        if (!ch) return NULL;
        ch->used = 0;
        ch->cap = cap;
        ch->next = pl->head;
        pl->head = ch;
    }
    void *p = ch->mem + ch->used;
    ch->used += n;
    return p;
}

static char *pool_strndup(struct pool *pl, const uint8_t *s, size_t n) {
    char *d = pool_alloc(pl, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void pool_free(struct pool *pl) {
    struct pool_chunk *ch = pl->head;
    while (ch) {
        struct pool_chunk *nx = ch->next;
        free(ch);
        ch = nx;
    }
    pl->head = NULL;
}

/* ----------------------------------------------------------- name index -- */

/* Open addressing over item indices (slot value = index + 1, 0 = empty). The
 * hash is seeded per object so crafted names cannot be made to collide. */
struct name_index {
    uint32_t *slots;
    size_t mask;
    uint64_t seed;
};

static uint64_t hash_bytes(uint64_t seed, const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static enum smelt_status index_init(struct name_index *ix, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    ix->slots = smelt_calloc(cap, sizeof *ix->slots);
    if (!ix->slots) return SMELT_ERR_NOMEM;
    ix->mask = cap - 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ix->seed = ((uint64_t)(uintptr_t)ix ^ (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) | 1;
    return SMELT_OK;
}

/* --------------------------------------------------------------- object -- */

struct gkv {
    const char *key;
    size_t key_len;
    uint32_t type;
    size_t at; /* file offset of the key (for messages) */
    union {
        uint64_t u; /* unsigned integer types and bool */
        int64_t i;  /* signed integer types */
        double f;   /* float types */
    } v;
    const char *str; /* STRING */
    size_t str_len;
    uint32_t arr_type; /* ARRAY */
    uint64_t arr_n;
    const void *arr_data;     /* packed elements (fixed-size element types) */
    const char **arr_strs;    /* string arrays: NUL-terminated copies */
    const size_t *arr_lens;
    const uint8_t *raw; /* the encoded value as stored (after the u32 value type) */
    size_t raw_len;
};

struct smelt_gguf {
    char *file;
    const uint8_t *base;
    size_t size;
    void *map; /* mmap'ed region (NULL for memory images) */
    size_t map_size;
    uint32_t version, alignment;
    size_t data_offset;
    int64_t n_kv, n_tensors;
    struct gkv *kv;
    struct smelt_gguf_tensor *tensors;
    struct name_index kv_index, tensor_index;
    struct pool pool;
};

static int64_t index_find(const struct name_index *ix, const void *name, size_t len,
                          const char *(*name_of)(const struct smelt_gguf *, uint32_t, size_t *),
                          const struct smelt_gguf *g) {
    if (!ix->slots) return -1;
    size_t h = (size_t)hash_bytes(ix->seed, name, len) & ix->mask;
    for (;;) {
        uint32_t s = ix->slots[h];
        if (!s) return -1;
        size_t l;
        const char *n = name_of(g, s - 1, &l);
        if (l == len && memcmp(n, name, len) == 0) return (int64_t)(s - 1);
        h = (h + 1) & ix->mask;
    }
}

static void index_put(struct name_index *ix, const void *name, size_t len, uint32_t idx) {
    size_t h = (size_t)hash_bytes(ix->seed, name, len) & ix->mask;
    while (ix->slots[h]) h = (h + 1) & ix->mask;
    ix->slots[h] = idx + 1;
}

static const char *kv_name_of(const struct smelt_gguf *g, uint32_t i, size_t *len) {
    *len = g->kv[i].key_len; /* keys were checked to contain no NUL */
    return g->kv[i].key;
}

static const char *tensor_name_of(const struct smelt_gguf *g, uint32_t i, size_t *len) {
    *len = strlen(g->tensors[i].name); /* names were checked to contain no NUL */
    return g->tensors[i].name;
}

/* --------------------------------------------------------------- parser -- */

/* Skip (and validate) an array body of `n` elements of type `et`. Used for
 * nested arrays, whose contents are not exposed. */
static enum smelt_status skip_array(struct cur *c, uint32_t et, uint64_t n, int depth, const char *what) {
    size_t at = c->pos;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: arrays nested deeper than %d levels",
                         c->file, at, what, GGUF_MAX_ARRAY_DEPTH);
    size_t es = smelt_gguf_vtype_size(et);
    if (es) {
        if (n > cur_left(c) / es)
            return smelt_err(SMELT_ERR_FORMAT,
                             "%s: offset %zu: %s: array of %" PRIu64 " x %s runs past the end of the file (%zu bytes left)",
                             c->file, at, what, n, vtype_name(et), cur_left(c));
        c->pos += (size_t)n * es;
        return SMELT_OK;
    }
    if (et == SMELT_GGUF_STRING) {
        if (n > cur_left(c) / 8)
            return smelt_err(SMELT_ERR_FORMAT,
                             "%s: offset %zu: %s: array of %" PRIu64 " strings runs past the end of the file (%zu bytes left)",
                             c->file, at, what, n, cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *p;
            uint64_t len;
            enum smelt_status s = rd_str(c, &p, &len, what);
            if (s) return s;
        }
        return SMELT_OK;
    }
    if (et == SMELT_GGUF_ARRAY) {
        if (n > cur_left(c) / 12)
            return smelt_err(SMELT_ERR_FORMAT,
                             "%s: offset %zu: %s: array of %" PRIu64 " arrays runs past the end of the file (%zu bytes left)",
                             c->file, at, what, n, cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            uint32_t sub_t;
            uint64_t sub_n;
            enum smelt_status s = rd_u32(c, &sub_t, what);
            if (!s) s = rd_u64(c, &sub_n, what);
            if (!s) s = skip_array(c, sub_t, sub_n, depth + 1, what);
            if (s) return s;
        }
        return SMELT_OK;
    }
    return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: invalid array element type %" PRIu32,
                     c->file, at - 12, what, et);
}

static enum smelt_status parse_array(struct smelt_gguf *g, struct cur *c, struct gkv *kv, const char *what) {
    size_t at = c->pos;
    uint32_t et;
    uint64_t n;
    enum smelt_status s = rd_u32(c, &et, what);
    if (!s) s = rd_u64(c, &n, what);
    if (s) return s;
    kv->arr_type = et;
    kv->arr_n = n;
    if (et > SMELT_GGUF_FLOAT64)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: invalid array element type %" PRIu32,
                         c->file, at, what, et);
    size_t es = smelt_gguf_vtype_size(et);
    if (es) {
        const uint8_t *p = c->base + c->pos;
        s = skip_array(c, et, n, 1, what);
        if (s) return s;
        kv->arr_data = p;
        if (et == SMELT_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (p[i] > 1)
                    return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: bool array element %" PRIu64
                                     " has value %u (must be 0 or 1)",
                                     c->file, (size_t)(p + i - c->base), what, i, p[i]);
        }
        return SMELT_OK;
    }
    if (et == SMELT_GGUF_ARRAY) return skip_array(c, et, n, 1, what);

    /* Array of strings: first pass validates lengths and sizes the copy. */
    size_t start = c->pos;
    s = skip_array(c, et, n, 1, what);
    if (s) return s;
    size_t total = (c->pos - start) - (size_t)n * 8 + (size_t)n; /* bytes + NULs */
    const char **strs = pool_alloc(&g->pool, (size_t)n * sizeof *strs);
    size_t *lens = pool_alloc(&g->pool, (size_t)n * sizeof *lens);
    char *blob = pool_alloc(&g->pool, total);
    if (!strs || !lens || !blob) return SMELT_ERR_NOMEM;
    const uint8_t *p = c->base + start;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = (size_t)ld_u64(p);
        memcpy(blob, p + 8, len);
        blob[len] = 0;
        strs[i] = blob;
        lens[i] = len;
        blob += len + 1;
        p += 8 + len;
    }
    kv->arr_strs = strs;
    kv->arr_lens = lens;
    return SMELT_OK;
}

static enum smelt_status parse_kv(struct smelt_gguf *g, struct cur *c, int64_t i) {
    struct gkv *kv = &g->kv[i];
    char what[160];
    snprintf(what, sizeof what, "kv[%" PRId64 "] key", i);
    size_t at = c->pos;
    const uint8_t *kp = NULL;
    uint64_t klen = 0;
    enum smelt_status s = rd_str(c, &kp, &klen, what);
    if (s) return s;
    if (klen == 0 || klen > GGUF_MAX_KEY_LEN)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: kv[%" PRId64 "] key length %" PRIu64
                         " is invalid (must be 1..%u)", c->file, at, i, klen, GGUF_MAX_KEY_LEN);
    if (memchr(kp, 0, (size_t)klen))
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: kv[%" PRId64 "] key contains a NUL byte", c->file, at, i);
    kv->key = pool_strndup(&g->pool, kp, (size_t)klen);
    if (!kv->key) return SMELT_ERR_NOMEM;
    kv->key_len = (size_t)klen;
    kv->at = at;
    snprintf(what, sizeof what, "kv[%" PRId64 "] '%.64s'", i, kv->key);

    int64_t dup = index_find(&g->kv_index, kp, (size_t)klen, kv_name_of, g);
    if (dup >= 0)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: duplicate key (first defined by kv[%" PRId64 "] at offset %zu)",
                         c->file, at, what, dup, g->kv[dup].at);

    size_t tat = c->pos;
    s = rd_u32(c, &kv->type, what);
    if (s) return s;
    size_t vat = c->pos;
    const uint8_t *p = c->base + c->pos;
    switch (kv->type) {
    case SMELT_GGUF_UINT8: case SMELT_GGUF_UINT16: case SMELT_GGUF_UINT32: case SMELT_GGUF_UINT64:
    case SMELT_GGUF_INT8: case SMELT_GGUF_INT16: case SMELT_GGUF_INT32: case SMELT_GGUF_INT64:
    case SMELT_GGUF_FLOAT32: case SMELT_GGUF_FLOAT64: case SMELT_GGUF_BOOL: {
        size_t es = smelt_gguf_vtype_size(kv->type);
        s = cur_need(c, es, what);
        if (s) return s;
        c->pos += es;
        switch (kv->type) {
        case SMELT_GGUF_UINT8: kv->v.u = p[0]; break;
        case SMELT_GGUF_UINT16: kv->v.u = ld_u16(p); break;
        case SMELT_GGUF_UINT32: kv->v.u = ld_u32(p); break;
        case SMELT_GGUF_UINT64: kv->v.u = ld_u64(p); break;
        case SMELT_GGUF_INT8: kv->v.i = (int8_t)p[0]; break;
        case SMELT_GGUF_INT16: kv->v.i = (int16_t)ld_u16(p); break;
        case SMELT_GGUF_INT32: kv->v.i = (int32_t)ld_u32(p); break;
        case SMELT_GGUF_INT64: kv->v.i = (int64_t)ld_u64(p); break;
        case SMELT_GGUF_FLOAT32: {
            uint32_t b = ld_u32(p);
            float f;
            memcpy(&f, &b, 4);
            kv->v.f = f;
            break;
        }
        case SMELT_GGUF_FLOAT64: {
            uint64_t b = ld_u64(p);
            memcpy(&kv->v.f, &b, 8);
            break;
        }
        case SMELT_GGUF_BOOL:
            if (p[0] > 1)
                return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: bool value %u (must be 0 or 1)",
                                 c->file, vat, what, p[0]);
            kv->v.u = p[0];
            break;
        }
        break;
    }
    case SMELT_GGUF_STRING: {
        const uint8_t *sp;
        uint64_t slen;
        s = rd_str(c, &sp, &slen, what);
        if (s) return s;
        kv->str = pool_strndup(&g->pool, sp, (size_t)slen);
        if (!kv->str) return SMELT_ERR_NOMEM;
        kv->str_len = (size_t)slen;
        break;
    }
    case SMELT_GGUF_ARRAY:
        s = parse_array(g, c, kv, what);
        if (s) return s;
        break;
    default:
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: invalid value type %" PRIu32,
                         c->file, tat, what, kv->type);
    }
    kv->raw = p;
    kv->raw_len = c->pos - vat;

    if (klen == 17 && memcmp(kp, "general.alignment", 17) == 0) {
        if (kv->type != SMELT_GGUF_UINT32)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: general.alignment has type %s (must be u32)",
                             c->file, tat, vtype_name(kv->type));
        uint64_t a = kv->v.u;
        if (a == 0 || (a & (a - 1)) != 0)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: general.alignment = %" PRIu64
                             " is not a power of two", c->file, vat, a);
        g->alignment = (uint32_t)a;
    }
    index_put(&g->kv_index, kp, (size_t)klen, (uint32_t)i);
    return SMELT_OK;
}

static enum smelt_status parse_tensor_info(struct smelt_gguf *g, struct cur *c, int64_t i) {
    struct smelt_gguf_tensor *t = &g->tensors[i];
    char what[160];
    snprintf(what, sizeof what, "tensor[%" PRId64 "] name", i);
    size_t at = c->pos;
    const uint8_t *np;
    uint64_t nlen;
    enum smelt_status s = rd_str(c, &np, &nlen, what);
    if (s) return s;
    if (nlen == 0 || nlen > GGUF_MAX_KEY_LEN)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: tensor[%" PRId64 "] name length %" PRIu64
                         " is invalid (must be 1..%u)", c->file, at, i, nlen, GGUF_MAX_KEY_LEN);
    if (memchr(np, 0, (size_t)nlen))
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: tensor[%" PRId64 "] name contains a NUL byte",
                         c->file, at, i);
    t->name = pool_strndup(&g->pool, np, (size_t)nlen);
    if (!t->name) return SMELT_ERR_NOMEM;
    snprintf(what, sizeof what, "tensor[%" PRId64 "] '%.64s'", i, t->name);

    int64_t dup = index_find(&g->tensor_index, np, (size_t)nlen, tensor_name_of, g);
    if (dup >= 0)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: duplicate tensor name (first used by tensor[%" PRId64 "])",
                         c->file, at, what, dup);

    size_t dat = c->pos;
    s = rd_u32(c, &t->n_dims, what);
    if (s) return s;
    if (t->n_dims < 1 || t->n_dims > 4)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: n_dims = %" PRIu32 " (must be 1..4)",
                         c->file, dat, what, t->n_dims);
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t eat = c->pos;
        uint64_t ne;
        s = rd_u64(c, &ne, what);
        if (s) return s;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: dimension ne[%" PRIu32 "] = %" PRId64
                             " (must be >= 1)", c->file, eat, what, d, (int64_t)ne);
        if (__builtin_mul_overflow(nel, ne, &nel) || nel > (uint64_t)INT64_MAX)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: element count overflows (ne[%" PRIu32 "] = %" PRIu64 ")",
                             c->file, eat, what, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    size_t tat = c->pos;
    s = rd_u32(c, &t->type, what);
    if (s) return s;
    uint32_t blck, bytes;
    if (!smelt_type_layout(t->type, &blck, &bytes))
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: unknown tensor type id %" PRIu32,
                         c->file, tat, what, t->type);
    if ((uint64_t)t->ne[0] % blck != 0)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: row of %" PRId64 " elements is not a multiple of the %s block size %" PRIu32,
                         c->file, tat, what, t->ne[0], smelt_type_name(t->type), blck);
    uint64_t nbytes;
    if (__builtin_mul_overflow(nel / blck, (uint64_t)bytes, &nbytes) || nbytes > SIZE_MAX)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: %s: byte size overflows (%" PRIu64 " elements of %s)",
                         c->file, tat, what, nel, smelt_type_name(t->type));
    t->nbytes = (size_t)nbytes;
    s = rd_u64(c, &t->offset, what);
    if (s) return s;
    index_put(&g->tensor_index, np, (size_t)nlen, (uint32_t)i);
    return SMELT_OK;
}

static int cmp_by_offset(const void *a, const void *b, void *arg) {
    const struct smelt_gguf_tensor *t = arg;
    uint64_t oa = t[*(const uint32_t *)a].offset, ob = t[*(const uint32_t *)b].offset;
    return oa < ob ? -1 : oa > ob;
}

/* Offsets aligned, tensors inside the data section, no overlaps. */
static enum smelt_status check_tensor_data(struct smelt_gguf *g, const size_t *info_at) {
    size_t data_size = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        struct smelt_gguf_tensor *t = &g->tensors[i];
        size_t oat = info_at[i];
        if (t->offset % g->alignment != 0)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: tensor[%" PRId64 "] '%s': data offset %" PRIu64
                             " is not a multiple of the alignment %" PRIu32,
                             g->file, oat, i, t->name, t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: tensor[%" PRId64 "] '%s': data [%" PRIu64 ", +%zu) lies outside "
                             "the data section (%zu bytes from file offset %zu; file truncated?)",
                             g->file, oat, i, t->name, t->offset, t->nbytes, data_size, g->data_offset);
        t->data = g->base + g->data_offset + t->offset;
    }
    if (g->n_tensors < 2) return SMELT_OK;
    uint32_t *order = smelt_malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return SMELT_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = (uint32_t)i;
    qsort_r(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset, g->tensors);
    enum smelt_status s = SMELT_OK;
    for (int64_t k = 1; k < g->n_tensors; k++) {
        const struct smelt_gguf_tensor *a = &g->tensors[order[k - 1]], *b = &g->tensors[order[k]];
        if (a->offset + a->nbytes > b->offset) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: tensor[%" PRIu32 "] '%s' data [%" PRIu64 ", +%zu) overlaps "
                          "tensor[%" PRIu32 "] '%s' data [%" PRIu64 ", +%zu)",
                          g->file, info_at[order[k]], order[k], b->name, b->offset, b->nbytes,
                          order[k - 1], a->name, a->offset, a->nbytes);
            break;
        }
    }
    free(order);
    return s;
}

static enum smelt_status parse(struct smelt_gguf *g) {
    struct cur c = {g->base, 0, g->size, g->file};
    struct cur *cp = &c;
    uint32_t magic;
    enum smelt_status s = rd_u32(cp, &magic, "header magic");
    if (s) return s;
    if (magic != GGUF_MAGIC) {
        char m[5];
        for (int k = 0; k < 4; k++) {
            uint8_t ch = g->base[k];
            m[k] = (ch >= 32 && ch < 127) ? (char)ch : '?';
        }
        m[4] = 0;
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset 0: not a GGUF file (magic '%s' = 0x%08" PRIx32 ", expected 'GGUF')",
                         g->file, m, magic);
    }
    s = rd_u32(cp, &g->version, "header version");
    if (s) return s;
    if (g->version == 0)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset 4: invalid GGUF version 0", g->file);
    if ((g->version & 0xFFFFu) == 0)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "%s: offset 4: GGUF version 0x%08" PRIx32
                         " looks byte-swapped (big-endian file?); only little-endian files are supported",
                         g->file, g->version);
    if (g->version == 1)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "%s: offset 4: GGUF version 1 is not supported (convert the model to v3)",
                         g->file);
    if (g->version > 3)
        return smelt_err(SMELT_ERR_UNSUPPORTED, "%s: offset 4: GGUF version %" PRIu32 " is not supported (only 2 and 3)",
                         g->file, g->version);
    uint64_t n_tensors, n_kv;
    s = rd_u64(cp, &n_tensors, "header n_tensors");
    if (!s) s = rd_u64(cp, &n_kv, "header n_kv");
    if (s) return s;
    size_t left = cur_left(cp);
    if (n_kv > left / GGUF_MIN_KV_BYTES)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset 16: header n_kv = %" PRIu64 " cannot fit in the %zu bytes left",
                         g->file, n_kv, left);
    if (n_tensors > left / GGUF_MIN_TENSOR_BYTES ||
        n_kv * GGUF_MIN_KV_BYTES + n_tensors * GGUF_MIN_TENSOR_BYTES > left)
        return smelt_err(SMELT_ERR_FORMAT, "%s: offset 8: header n_tensors = %" PRIu64 " (with n_kv = %" PRIu64
                         ") cannot fit in the %zu bytes left", g->file, n_tensors, n_kv, left);
    if (n_tensors >= UINT32_MAX || n_kv >= UINT32_MAX) /* unreachable for files < 100 GiB */
        return smelt_err(SMELT_ERR_UNSUPPORTED, "%s: too many tensors or keys", g->file);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;

    g->kv = smelt_calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = smelt_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return SMELT_ERR_NOMEM;
    s = index_init(&g->kv_index, n_kv);
    if (!s) s = index_init(&g->tensor_index, n_tensors);
    if (s) return s;

    for (int64_t i = 0; i < g->n_kv; i++) {
        s = parse_kv(g, cp, i);
        if (s) return s;
    }
    size_t *info_at = smelt_malloc((n_tensors ? n_tensors : 1) * sizeof *info_at);
    if (!info_at) return SMELT_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        info_at[i] = c.pos;
        s = parse_tensor_info(g, cp, i);
        if (s) goto done;
    }
    size_t end = c.pos;
    size_t pad = (g->alignment - end % g->alignment) % g->alignment;
    if (g->n_tensors == 0) {
        /* No data section needed; a writer may have omitted the padding. */
        g->data_offset = pad <= g->size - end ? end + pad : g->size;
    } else {
        if (pad > g->size - end) {
            s = smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: data section: truncated (padding to alignment %" PRIu32
                          " needs %zu bytes, %zu left)", g->file, end, g->alignment, pad, g->size - end);
            goto done;
        }
        g->data_offset = end + pad;
        s = check_tensor_data(g, info_at);
    }
done:
    free(info_at);
    return s;
}

/* ------------------------------------------------------------ open/free -- */

static enum smelt_status open_image(struct smelt_gguf *g, struct smelt_gguf **out) {
    enum smelt_status s = parse(g);
    if (s) {
        smelt_gguf_free(g);
        return s;
    }
    *out = g;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_open_memory(const void *data, size_t size, const char *name,
                                         struct smelt_gguf **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size)
        return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_open_memory: data is NULL");
    struct smelt_gguf *g = smelt_calloc(1, sizeof *g);
    if (!g) return SMELT_ERR_NOMEM;
    g->file = smelt_strdup(name ? name : "<memory>");
    if (!g->file) {
        free(g);
        return SMELT_ERR_NOMEM;
    }
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    return open_image(g, out);
}

enum smelt_status smelt_gguf_open(const char *path, struct smelt_gguf **out) {
    if (!out) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return smelt_err(errno == ENOENT ? SMELT_ERR_NOT_FOUND : SMELT_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return smelt_err(SMELT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return smelt_err(SMELT_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return smelt_err(SMELT_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size, strerror(e));
        }
    }
    close(fd);
    struct smelt_gguf *g = smelt_calloc(1, sizeof *g);
    if (!g) {
        if (map) munmap(map, size);
        return SMELT_ERR_NOMEM;
    }
    static const uint8_t empty[1];
    g->map = map;
    g->map_size = size;
    g->base = map ? map : empty;
    g->size = size;
    g->file = smelt_strdup(path);
    if (!g->file) {
        smelt_gguf_free(g);
        return SMELT_ERR_NOMEM;
    }
    return open_image(g, out);
}

void smelt_gguf_free(struct smelt_gguf *g) {
    if (!g) return;
    if (g->map) munmap(g->map, g->map_size);
    free(g->kv);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    pool_free(&g->pool);
    free(g->file);
    free(g);
}

/* ------------------------------------------------------------ accessors -- */

uint32_t smelt_gguf_version(const struct smelt_gguf *g) { return g ? g->version : 0; }
uint32_t smelt_gguf_alignment(const struct smelt_gguf *g) { return g ? g->alignment : 0; }
size_t smelt_gguf_file_size(const struct smelt_gguf *g) { return g ? g->size : 0; }
size_t smelt_gguf_data_offset(const struct smelt_gguf *g) { return g ? g->data_offset : 0; }
int64_t smelt_gguf_n_kv(const struct smelt_gguf *g) { return g ? g->n_kv : 0; }

const char *smelt_gguf_kv_key(const struct smelt_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

enum smelt_gguf_vtype smelt_gguf_kv_type(const struct smelt_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? (enum smelt_gguf_vtype)g->kv[i].type : SMELT_GGUF_UINT8;
}

enum smelt_status smelt_gguf_kv_raw(const struct smelt_gguf *g, int64_t i, enum smelt_gguf_vtype *type,
                                    const void **data, size_t *len) {
    if (!g || i < 0 || i >= g->n_kv || !type || !data || !len)
        return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_kv_raw: invalid argument");
    *type = (enum smelt_gguf_vtype)g->kv[i].type;
    *data = g->kv[i].raw;
    *len = g->kv[i].raw_len;
    return SMELT_OK;
}

int64_t smelt_gguf_find_key(const struct smelt_gguf *g, const char *key) {
    if (!g || !key) return -1;
    return index_find(&g->kv_index, key, strlen(key), kv_name_of, g);
}

int64_t smelt_gguf_n_tensors(const struct smelt_gguf *g) { return g ? g->n_tensors : 0; }

const struct smelt_gguf_tensor *smelt_gguf_tensor(const struct smelt_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct smelt_gguf_tensor *smelt_gguf_find_tensor(const struct smelt_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    int64_t i = index_find(&g->tensor_index, name, strlen(name), tensor_name_of, g);
    return i >= 0 ? &g->tensors[i] : NULL;
}

/* -------------------------------------------------------- typed getters -- */

static bool is_unsigned_vt(uint32_t t) {
    return t == SMELT_GGUF_UINT8 || t == SMELT_GGUF_UINT16 || t == SMELT_GGUF_UINT32 || t == SMELT_GGUF_UINT64;
}
static bool is_signed_vt(uint32_t t) {
    return t == SMELT_GGUF_INT8 || t == SMELT_GGUF_INT16 || t == SMELT_GGUF_INT32 || t == SMELT_GGUF_INT64;
}

static enum smelt_status lookup(const struct smelt_gguf *g, const char *key, const struct gkv **kv) {
    *kv = NULL;
    if (!g || !key) return smelt_err(SMELT_ERR_INVALID_ARG, "gguf getter: NULL argument");
    int64_t i = smelt_gguf_find_key(g, key);
    if (i < 0) return SMELT_ERR_NOT_FOUND;
    *kv = &g->kv[i];
    return SMELT_OK;
}

static enum smelt_status wrong_type(const struct smelt_gguf *g, const struct gkv *kv, const char *want) {
    return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: key '%s' has type %s, expected %s", g->file, kv->at,
                     kv->key, vtype_name(kv->type), want);
}

/* Integer value of a key as (negative?, magnitude-or-value). */
static enum smelt_status get_int(const struct smelt_gguf *g, const char *key, const char *want, int64_t lo,
                                 uint64_t hi, uint64_t *uv, int64_t *iv) {
    const struct gkv *kv;
    enum smelt_status s = lookup(g, key, &kv);
    if (s) return s;
    if (is_unsigned_vt(kv->type)) {
        if (kv->v.u > hi)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: key '%s' = %" PRIu64 " does not fit in %s",
                             g->file, kv->at, key, kv->v.u, want);
        *uv = kv->v.u;
        *iv = (int64_t)kv->v.u; /* only used when hi <= INT64_MAX */
        return SMELT_OK;
    }
    if (is_signed_vt(kv->type)) {
        if (kv->v.i < lo || (kv->v.i >= 0 && (uint64_t)kv->v.i > hi))
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: key '%s' = %" PRId64 " does not fit in %s",
                             g->file, kv->at, key, kv->v.i, want);
        *uv = (uint64_t)kv->v.i;
        *iv = kv->v.i;
        return SMELT_OK;
    }
    return wrong_type(g, kv, want);
}

enum smelt_status smelt_gguf_get_u32(const struct smelt_gguf *g, const char *key, uint32_t *out) {
    uint64_t u = 0;
    int64_t i = 0;
    enum smelt_status s = get_int(g, key, "u32", 0, UINT32_MAX, &u, &i);
    *out = s ? 0 : (uint32_t)u;
    return s;
}

enum smelt_status smelt_gguf_get_u64(const struct smelt_gguf *g, const char *key, uint64_t *out) {
    uint64_t u = 0;
    int64_t i = 0;
    enum smelt_status s = get_int(g, key, "u64", 0, UINT64_MAX, &u, &i);
    *out = s ? 0 : u;
    return s;
}

enum smelt_status smelt_gguf_get_i64(const struct smelt_gguf *g, const char *key, int64_t *out) {
    uint64_t u = 0;
    int64_t i = 0;
    enum smelt_status s = get_int(g, key, "i64", INT64_MIN, INT64_MAX, &u, &i);
    *out = s ? 0 : i;
    return s;
}

enum smelt_status smelt_gguf_get_f32(const struct smelt_gguf *g, const char *key, float *out) {
    *out = 0;
    const struct gkv *kv;
    enum smelt_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type == SMELT_GGUF_FLOAT32) *out = (float)kv->v.f;
    else if (kv->type == SMELT_GGUF_FLOAT64) {
        /* converting an out-of-range double to float is undefined behaviour */
        if (kv->v.f == kv->v.f && (kv->v.f > FLT_MAX || kv->v.f < -FLT_MAX) && kv->v.f != INFINITY &&
            kv->v.f != -INFINITY)
            return smelt_err(SMELT_ERR_FORMAT, "%s: offset %zu: key '%s' = %g does not fit in f32", g->file, kv->at,
                             key, kv->v.f);
        *out = (float)kv->v.f;
    }
    else if (is_unsigned_vt(kv->type)) *out = (float)kv->v.u;
    else if (is_signed_vt(kv->type)) *out = (float)kv->v.i;
    else return wrong_type(g, kv, "a number (f32, f64 or integer)");
    return SMELT_OK;
}

enum smelt_status smelt_gguf_get_bool(const struct smelt_gguf *g, const char *key, bool *out) {
    *out = false;
    const struct gkv *kv;
    enum smelt_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != SMELT_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->v.u != 0;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_get_str(const struct smelt_gguf *g, const char *key, const char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    const struct gkv *kv;
    enum smelt_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != SMELT_GGUF_STRING) return wrong_type(g, kv, "str");
    *out = kv->str;
    if (len) *len = kv->str_len;
    return SMELT_OK;
}

enum smelt_status smelt_gguf_get_arr(const struct smelt_gguf *g, const char *key, enum smelt_gguf_vtype *elem_type,
                                     uint64_t *n, const void **data) {
    if (elem_type) *elem_type = SMELT_GGUF_UINT8;
    if (n) *n = 0;
    if (data) *data = NULL;
    const struct gkv *kv;
    enum smelt_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != SMELT_GGUF_ARRAY) return wrong_type(g, kv, "arr");
    if (elem_type) *elem_type = (enum smelt_gguf_vtype)kv->arr_type;
    if (n) *n = kv->arr_n;
    if (data) *data = kv->arr_data;
    return SMELT_OK;
}

const char *smelt_gguf_arr_str(const struct smelt_gguf *g, const char *key, uint64_t i, size_t *len) {
    if (len) *len = 0;
    if (!g || !key) return NULL;
    int64_t k = smelt_gguf_find_key(g, key);
    if (k < 0) return NULL;
    const struct gkv *kv = &g->kv[k];
    if (kv->type != SMELT_GGUF_ARRAY || kv->arr_type != SMELT_GGUF_STRING || i >= kv->arr_n) return NULL;
    if (len) *len = kv->arr_lens[i];
    return kv->arr_strs[i];
}

/* -------------------------------------------------------------- printer -- */

#define PRINT_STR_MAX 80 /* bytes of a string shown before "..." */
#define PRINT_ARR_MAX 8  /* array elements shown */

static void print_escaped(FILE *f, const char *s, size_t len, size_t max) {
    size_t n = len;
    bool cut = false;
    if (n > max) {
        n = max;
        while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80) n--; /* don't split a UTF-8 sequence */
        cut = true;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\x%02x", ch);
            else fputc(ch, f);
        }
    }
    fputc('"', f);
    if (cut) fprintf(f, "... (%zu bytes)", len);
}

/* Shortest %g form that reads back as the same float. */
static void print_f32(FILE *f, float x) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x || prec == 9) break;
    }
    fputs(buf, f);
}

static void print_scalar(FILE *f, uint32_t t, const uint8_t *p) {
    switch (t) {
    case SMELT_GGUF_UINT8: fprintf(f, "%u", p[0]); break;
    case SMELT_GGUF_INT8: fprintf(f, "%d", (int8_t)p[0]); break;
    case SMELT_GGUF_UINT16: fprintf(f, "%u", ld_u16(p)); break;
    case SMELT_GGUF_INT16: fprintf(f, "%d", (int16_t)ld_u16(p)); break;
    case SMELT_GGUF_UINT32: fprintf(f, "%" PRIu32, ld_u32(p)); break;
    case SMELT_GGUF_INT32: fprintf(f, "%" PRId32, (int32_t)ld_u32(p)); break;
    case SMELT_GGUF_UINT64: fprintf(f, "%" PRIu64, ld_u64(p)); break;
    case SMELT_GGUF_INT64: fprintf(f, "%" PRId64, (int64_t)ld_u64(p)); break;
    case SMELT_GGUF_BOOL: fputs(p[0] ? "true" : "false", f); break;
    case SMELT_GGUF_FLOAT32: {
        uint32_t b = ld_u32(p);
        float x;
        memcpy(&x, &b, 4);
        print_f32(f, x);
        break;
    }
    case SMELT_GGUF_FLOAT64: {
        uint64_t b = ld_u64(p);
        double x;
        memcpy(&x, &b, 8);
        fprintf(f, "%.17g", x);
        break;
    }
    }
}

static void print_value(FILE *f, const struct gkv *kv) {
    switch (kv->type) {
    case SMELT_GGUF_STRING: print_escaped(f, kv->str, kv->str_len, PRINT_STR_MAX); break;
    case SMELT_GGUF_ARRAY: {
        fprintf(f, "[%s x %" PRIu64 "]", vtype_name(kv->arr_type), kv->arr_n);
        uint64_t shown = kv->arr_n < PRINT_ARR_MAX ? kv->arr_n : PRINT_ARR_MAX;
        if (kv->arr_type == SMELT_GGUF_ARRAY) {
            fputs(" (nested arrays not shown)", f);
            break;
        }
        size_t budget = 2 * PRINT_STR_MAX;
        for (uint64_t i = 0; i < shown; i++) {
            fputs(i ? ", " : " ", f);
            if (kv->arr_type == SMELT_GGUF_STRING) {
                print_escaped(f, kv->arr_strs[i], kv->arr_lens[i], 32);
                size_t used = kv->arr_lens[i] < 32 ? kv->arr_lens[i] + 4 : 36;
                if (used >= budget) {
                    shown = i + 1;
                    break;
                }
                budget -= used;
            } else {
                print_scalar(f, kv->arr_type, (const uint8_t *)kv->arr_data + i * smelt_gguf_vtype_size(kv->arr_type));
            }
        }
        if (shown < kv->arr_n) fputs(", ...", f);
        break;
    }
    case SMELT_GGUF_FLOAT32: print_f32(f, (float)kv->v.f); break;
    case SMELT_GGUF_FLOAT64: fprintf(f, "%.17g", kv->v.f); break;
    case SMELT_GGUF_BOOL: fputs(kv->v.u ? "true" : "false", f); break;
    default:
        if (is_signed_vt(kv->type)) fprintf(f, "%" PRId64, kv->v.i);
        else fprintf(f, "%" PRIu64, kv->v.u);
    }
}

static void print_bytes_human(FILE *f, uint64_t n) {
    if (n >= (1ull << 30)) fprintf(f, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20)) fprintf(f, "%.2f MiB", (double)n / (1ull << 20));
    else if (n >= (1ull << 10)) fprintf(f, "%.2f KiB", (double)n / (1ull << 10));
    else fprintf(f, "%" PRIu64 " B", n);
}

enum smelt_status smelt_gguf_print(const struct smelt_gguf *g, void *file) {
    FILE *f = file;
    if (!g || !f) return smelt_err(SMELT_ERR_INVALID_ARG, "smelt_gguf_print: NULL argument");
    fprintf(f, "%s: GGUF v%" PRIu32 ", ", g->file, g->version);
    print_bytes_human(f, g->size);
    fprintf(f, " (%zu bytes)\n", g->size);
    fprintf(f, "alignment %" PRIu32 ", data section at offset %zu, %" PRId64 " tensors, %" PRId64 " key/values\n\n",
            g->alignment, g->data_offset, g->n_tensors, g->n_kv);

    int kw = 10;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key_len > (size_t)kw) kw = g->kv[i].key_len > 48 ? 48 : (int)g->kv[i].key_len;
    fprintf(f, "metadata:\n");
    for (int64_t i = 0; i < g->n_kv; i++) {
        const struct gkv *kv = &g->kv[i];
        fprintf(f, "  %-*s %-4s ", kw, kv->key, vtype_name(kv->type));
        print_value(f, kv);
        fputc('\n', f);
    }

    int nw = 4;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        size_t l = strlen(g->tensors[i].name);
        if (l > (size_t)nw) nw = l > 48 ? 48 : (int)l;
    }
    fprintf(f, "\ntensors:\n  %5s  %-*s  %-7s  %-20s  %12s  %12s\n", "#", nw, "name", "type", "dims", "offset", "bytes");
    uint64_t total_bytes = 0, total_elems = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct smelt_gguf_tensor *t = &g->tensors[i];
        char dims[96];
        int pos = 0;
        for (uint32_t d = 0; d < t->n_dims && pos < (int)sizeof dims; d++)
            pos += snprintf(dims + pos, sizeof dims - (size_t)pos, "%s%" PRId64, d ? " x " : "", t->ne[d]);
        fprintf(f, "  %5" PRId64 "  %-*s  %-7s  %-20s  %12" PRIu64 "  %12zu\n", i, nw, t->name,
                smelt_type_name(t->type), dims, t->offset, t->nbytes);
        total_bytes += t->nbytes;
        total_elems += (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    }
    fprintf(f, "\ntotal: %" PRId64 " tensors, %" PRIu64 " elements (%.1f M), %" PRIu64 " bytes (", g->n_tensors,
            total_elems, (double)total_elems / 1e6, total_bytes);
    print_bytes_human(f, total_bytes);
    fprintf(f, ")\n");
    return ferror(f) ? smelt_err(SMELT_ERR_IO, "smelt_gguf_print: write error") : SMELT_OK;
}
