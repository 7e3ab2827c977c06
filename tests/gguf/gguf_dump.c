/* gguf_dump FILE: canonical, exact dump of a GGUF file as read by smelt (used
 * by gguf_py_writer.py to compare against gguf-py's GGUFReader). Format, one
 * item per line:
 *   version V / alignment A / data_offset D / n_kv N / n_tensors N
 *   kv KEY TYPE VALUE          ints in decimal, bools 0/1, f32/f64 scalars as the
 *                              hex bits of smelt_gguf_get_f32's result, strings
 *                              as "s:" + hex bytes (array floats: raw hex bits)
 *   kv KEY arr ETYPE N V...    (nested arrays: only "arr arr N")
 *   tensor NAME TYPE ne0,ne1.. OFFSET NBYTES FNV1A64(data)
 * Exit status 1 with the error message if the file does not open. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "smelt/gguf.h"

static const char *vt_name(int t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return t >= 0 && t < 13 ? n[t] : "?";
}

static void hex(const void *p, size_t n) {
    const uint8_t *b = p;
    fputs("s:", stdout);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

static void scalar(int t, const uint8_t *p) {
    uint64_t u = 0;
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    for (int i = sz[t] - 1; i >= 0; i--) u = u << 8 | p[i];
    switch (t) {
    case 1: printf("%d", (int8_t)u); break;
    case 3: printf("%d", (int16_t)u); break;
    case 5: printf("%" PRId32, (int32_t)u); break;
    case 11: printf("%" PRId64, (int64_t)u); break;
    case 6: printf("0x%08" PRIx32, (uint32_t)u); break;
    case 12: printf("0x%016" PRIx64, u); break;
    default: printf("%" PRIu64, u); break;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gguf_dump FILE\n");
        return 2;
    }
    struct smelt_gguf *g;
    if (smelt_gguf_open(argv[1], &g) != SMELT_OK) {
        fprintf(stderr, "%s\n", smelt_last_error());
        return 1;
    }
    printf("version %" PRIu32 "\nalignment %" PRIu32 "\ndata_offset %zu\nn_kv %" PRId64 "\nn_tensors %" PRId64 "\n",
           smelt_gguf_version(g), smelt_gguf_alignment(g), smelt_gguf_data_offset(g), smelt_gguf_n_kv(g),
           smelt_gguf_n_tensors(g));
    for (int64_t i = 0; i < smelt_gguf_n_kv(g); i++) {
        const char *key = smelt_gguf_kv_key(g, i);
        int t = smelt_gguf_kv_type(g, i);
        printf("kv %s %s", key, vt_name(t));
        if (t == SMELT_GGUF_STRING) {
            const char *s;
            size_t len;
            smelt_gguf_get_str(g, key, &s, &len);
            putchar(' ');
            hex(s, len);
        } else if (t == SMELT_GGUF_ARRAY) {
            enum smelt_gguf_vtype et;
            uint64_t n;
            const void *data;
            smelt_gguf_get_arr(g, key, &et, &n, &data);
            printf(" %s %" PRIu64, vt_name(et), n);
            static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
            for (uint64_t k = 0; k < n && et != SMELT_GGUF_ARRAY; k++) {
                putchar(' ');
                if (et == SMELT_GGUF_STRING) {
                    size_t len;
                    const char *s = smelt_gguf_arr_str(g, key, k, &len);
                    hex(s, len);
                } else {
                    scalar(et, (const uint8_t *)data + k * (size_t)sz[et]);
                }
            }
        } else {
            /* through the typed getters; floats as the bits of get_f32's result
             * (there is no f64 getter: f64 values are compared after rounding
             * to f32) */
            if (t == SMELT_GGUF_BOOL) {
                bool b;
                smelt_gguf_get_bool(g, key, &b);
                printf(" %d", b ? 1 : 0);
            } else if (t == SMELT_GGUF_FLOAT32 || t == SMELT_GGUF_FLOAT64) {
                float f;
                uint32_t bits;
                smelt_gguf_get_f32(g, key, &f);
                memcpy(&bits, &f, 4);
                printf(" 0x%08" PRIx32, bits);
            } else if (t == SMELT_GGUF_INT8 || t == SMELT_GGUF_INT16 || t == SMELT_GGUF_INT32 ||
                       t == SMELT_GGUF_INT64) {
                int64_t v;
                smelt_gguf_get_i64(g, key, &v);
                printf(" %" PRId64, v);
            } else {
                uint64_t v;
                smelt_gguf_get_u64(g, key, &v);
                printf(" %" PRIu64, v);
            }
        }
        putchar('\n');
    }
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        printf("tensor %s %" PRIu32 " ", t->name, t->type);
        for (uint32_t d = 0; d < t->n_dims; d++) printf("%s%" PRId64, d ? "," : "", t->ne[d]);
        uint64_t h = 1469598103934665603ull;
        const uint8_t *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++) h = (h ^ p[k]) * 1099511628211ull;
        printf(" %" PRIu64 " %zu %016" PRIx64 "\n", t->offset, t->nbytes, h);
    }
    smelt_gguf_free(g);
    return 0;
}
