/* libFuzzer target for the GGUF reader: parse arbitrary bytes with
 * smelt_gguf_open_memory, then walk everything a caller could touch (every
 * key through every getter, every string array element, every tensor's data
 * range, the printer). Built as a fuzzer with -DSMELT_FUZZ=ON (clang), and
 * always as the `gguf_fuzz_replay` ctest through replay_main.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smelt/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static void walk(const struct smelt_gguf *g) {
    uint64_t acc = 0;
    for (int64_t i = 0; i < smelt_gguf_n_kv(g); i++) {
        const char *key = smelt_gguf_kv_key(g, i);
        if (!key) abort();
        if (smelt_gguf_find_key(g, key) != i) abort(); /* keys are unique, NUL-free */
        uint32_t u32;
        uint64_t u64;
        int64_t i64;
        float f;
        bool b;
        const char *s;
        size_t len;
        (void)smelt_gguf_get_u32(g, key, &u32);
        (void)smelt_gguf_get_u64(g, key, &u64);
        (void)smelt_gguf_get_i64(g, key, &i64);
        (void)smelt_gguf_get_f32(g, key, &f);
        (void)smelt_gguf_get_bool(g, key, &b);
        if (smelt_gguf_get_str(g, key, &s, &len) == SMELT_OK) {
            if (s[len] != 0) abort();
            for (size_t k = 0; k < len; k++) acc += (uint8_t)s[k];
        }
        enum smelt_gguf_vtype et;
        uint64_t n;
        const void *arr;
        if (smelt_gguf_get_arr(g, key, &et, &n, &arr) == SMELT_OK) {
            if (et == SMELT_GGUF_STRING) {
                for (uint64_t k = 0; k < n; k++) {
                    const char *e = smelt_gguf_arr_str(g, key, k, &len);
                    if (!e || e[len] != 0) abort();
                    if (len) acc += (uint8_t)e[0] + (uint8_t)e[len - 1];
                }
                if (smelt_gguf_arr_str(g, key, n, &len) != NULL) abort();
            } else if (arr && n) {
                static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                if ((unsigned)et >= sizeof sz / sizeof sz[0] || !sz[et]) abort();
                const uint8_t *p = arr;
                acc += p[0] + p[n * sz[et] - 1];
            }
        }
    }
    for (int64_t i = 0; i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        if (!t || smelt_gguf_find_tensor(g, t->name) != t) abort();
        if (t->n_dims < 1 || t->n_dims > 4 || t->nbytes == 0) abort();
        const uint8_t *p = t->data;
        acc += p[0] + p[t->nbytes - 1];
    }
    static FILE *devnull;
    if (!devnull) devnull = fopen("/dev/null", "w");
    if (devnull) (void)smelt_gguf_print(g, devnull);
    g_sink = acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct smelt_gguf *g = NULL;
    enum smelt_status s = smelt_gguf_open_memory(data, size, "fuzz.gguf", &g);
    if (s == SMELT_OK) {
        if (!g) abort();
        walk(g);
        smelt_gguf_free(g);
    } else {
        /* a refusal always comes with a message and no object */
        if (g || smelt_last_error()[0] == 0) abort();
    }
    return 0;
}
