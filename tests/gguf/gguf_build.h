/* Test helper: a tiny GGUF writer for building images in memory, plus a
 * standard test image (every value type, nested arrays, tensors of several
 * types) that records the byte offsets of its fields so corruption tests can
 * mutate them. Header-only (static functions) and used by the gguf tests. */
#ifndef SMELT_TEST_GGUF_BUILD_H
#define SMELT_TEST_GGUF_BUILD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smelt/gguf.h"

struct gw {
    uint8_t *p;
    size_t n, cap;
};

static inline void gw_bytes(struct gw *w, const void *src, size_t n) {
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n) cap *= 2;
        w->p = realloc(w->p, cap);
        if (!w->p) {
            fprintf(stderr, "gw: out of memory\n");
            abort();
        }
        w->cap = cap;
    }
    if (n) memcpy(w->p + w->n, src, n);
    w->n += n;
}
static inline void gw_u8(struct gw *w, uint8_t v) { gw_bytes(w, &v, 1); }
static inline void gw_u16(struct gw *w, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    gw_bytes(w, b, 2);
}
static inline void gw_u32(struct gw *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    gw_bytes(w, b, 4);
}
static inline void gw_u64(struct gw *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    gw_bytes(w, b, 8);
}
static inline void gw_f32(struct gw *w, float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    gw_u32(w, b);
}
static inline void gw_f64(struct gw *w, double f) {
    uint64_t b;
    memcpy(&b, &f, 8);
    gw_u64(w, b);
}
static inline void gw_strn(struct gw *w, const char *s, size_t n) {
    gw_u64(w, n);
    gw_bytes(w, s, n);
}
static inline void gw_str(struct gw *w, const char *s) { gw_strn(w, s, strlen(s)); }
static inline void gw_pad(struct gw *w, size_t align) {
    while (w->n % align) gw_u8(w, 0);
}
static inline void gw_put_u32(struct gw *w, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) w->p[at + i] = (uint8_t)(v >> (8 * i));
}
static inline void gw_put_u64(struct gw *w, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) w->p[at + i] = (uint8_t)(v >> (8 * i));
}
static inline void gw_header(struct gw *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, version);
    gw_u64(w, n_tensors);
    gw_u64(w, n_kv);
}
static inline void gw_key(struct gw *w, const char *key, uint32_t vtype) {
    gw_str(w, key);
    gw_u32(w, vtype);
}

/* ---- the standard test image ---- */

enum {
    M_N_TENSORS, M_N_KV,
    M_ARCH_KEYLEN,     /* length field of kv[0]'s key */
    M_ARCH_STRLEN,     /* length field of kv[0]'s string value */
    M_ALIGN_TYPE, M_ALIGN_VAL,
    M_I8_KEY,          /* key bytes of "t.i8" */
    M_I8_TYPE,         /* value type of "t.i8" */
    M_BOOL_VAL,
    M_ARR_I32_TYPE,    /* element type of t.arr_i32 */
    M_ARR_I32_N,
    M_ARR_STR_N,
    M_ARR_STR_E1_LEN,  /* length of the 2nd string of t.arr_str */
    M_ARR_BOOL_E0,
    M_T0_NAMELEN, M_T0_NAME, M_T0_NDIMS, M_T0_NE0, M_T0_NE1, M_T0_TYPE, M_T0_OFF,
    M_T1_NAME, M_T1_NE0, M_T1_TYPE, M_T1_OFF,
    M_T2_NE2, M_T2_OFF,
    M_DATA,
    M_COUNT
};

struct test_image {
    struct gw w;
    size_t mark[M_COUNT];
    uint32_t alignment;
    uint64_t toff[3];
    size_t tbytes[3];
};

#define TEST_IMAGE_N_KV 21
#define TEST_IMAGE_N_TENSORS 3

/* version 2 or 3; alignment 0 = no general.alignment key (default 32). The
 * image ends exactly at the end of the last tensor's data, so every strict
 * prefix of it is invalid. */
static inline void test_image_build(struct test_image *im, uint32_t version, uint32_t alignment) {
    memset(im, 0, sizeof *im);
    struct gw *w = &im->w;
    uint32_t A = alignment ? alignment : 32;
    im->alignment = A;
    uint64_t n_kv = TEST_IMAGE_N_KV - (alignment ? 0 : 1);
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, version);
    im->mark[M_N_TENSORS] = w->n;
    gw_u64(w, TEST_IMAGE_N_TENSORS);
    im->mark[M_N_KV] = w->n;
    gw_u64(w, n_kv);

    im->mark[M_ARCH_KEYLEN] = w->n;
    gw_key(w, "general.architecture", SMELT_GGUF_STRING);
    im->mark[M_ARCH_STRLEN] = w->n;
    gw_str(w, "testarch");
    if (alignment) {
        gw_str(w, "general.alignment");
        im->mark[M_ALIGN_TYPE] = w->n;
        gw_u32(w, SMELT_GGUF_UINT32);
        im->mark[M_ALIGN_VAL] = w->n;
        gw_u32(w, alignment);
    }
    gw_key(w, "t.u8", SMELT_GGUF_UINT8); gw_u8(w, 200);
    im->mark[M_I8_KEY] = w->n + 8;
    gw_str(w, "t.i8");
    im->mark[M_I8_TYPE] = w->n;
    gw_u32(w, SMELT_GGUF_INT8); gw_u8(w, (uint8_t)-100);
    gw_key(w, "t.u16", SMELT_GGUF_UINT16); gw_u16(w, 60000);
    gw_key(w, "t.i16", SMELT_GGUF_INT16); gw_u16(w, (uint16_t)-30000);
    gw_key(w, "t.u32", SMELT_GGUF_UINT32); gw_u32(w, 4000000000u);
    gw_key(w, "t.i32", SMELT_GGUF_INT32); gw_u32(w, (uint32_t)-2000000000);
    gw_key(w, "t.f32", SMELT_GGUF_FLOAT32); gw_f32(w, 1.5f);
    gw_key(w, "t.bool", SMELT_GGUF_BOOL);
    im->mark[M_BOOL_VAL] = w->n;
    gw_u8(w, 1);
    gw_key(w, "t.str", SMELT_GGUF_STRING); gw_strn(w, "hello\0world \"q\"\n", 16);
    gw_key(w, "t.u64", SMELT_GGUF_UINT64); gw_u64(w, (1ull << 63) + 5);
    gw_key(w, "t.i64", SMELT_GGUF_INT64); gw_u64(w, (uint64_t)-(INT64_C(1) << 62));
    gw_key(w, "t.f64", SMELT_GGUF_FLOAT64); gw_f64(w, 3.25);
    gw_key(w, "t.small_i64", SMELT_GGUF_INT64); gw_u64(w, 7);
    gw_key(w, "t.arr_i32", SMELT_GGUF_ARRAY);
    im->mark[M_ARR_I32_TYPE] = w->n;
    gw_u32(w, SMELT_GGUF_INT32);
    im->mark[M_ARR_I32_N] = w->n;
    gw_u64(w, 3); gw_u32(w, 1); gw_u32(w, (uint32_t)-2); gw_u32(w, 3);
    gw_key(w, "t.arr_str", SMELT_GGUF_ARRAY);
    gw_u32(w, SMELT_GGUF_STRING);
    im->mark[M_ARR_STR_N] = w->n;
    gw_u64(w, 3);
    gw_str(w, "a");
    im->mark[M_ARR_STR_E1_LEN] = w->n;
    gw_str(w, "");
    gw_str(w, "ccc");
    gw_key(w, "t.arr_f32", SMELT_GGUF_ARRAY);
    gw_u32(w, SMELT_GGUF_FLOAT32); gw_u64(w, 2); gw_f32(w, 0.5f); gw_f32(w, -2.0f);
    gw_key(w, "t.arr_nested", SMELT_GGUF_ARRAY);
    gw_u32(w, SMELT_GGUF_ARRAY); gw_u64(w, 2);
    gw_u32(w, SMELT_GGUF_UINT8); gw_u64(w, 2); gw_u8(w, 1); gw_u8(w, 2);
    gw_u32(w, SMELT_GGUF_STRING); gw_u64(w, 1); gw_str(w, "nested");
    gw_key(w, "t.arr_empty", SMELT_GGUF_ARRAY);
    gw_u32(w, SMELT_GGUF_UINT8); gw_u64(w, 0);
    gw_key(w, "t.arr_bool", SMELT_GGUF_ARRAY);
    gw_u32(w, SMELT_GGUF_BOOL); gw_u64(w, 2);
    im->mark[M_ARR_BOOL_E0] = w->n;
    gw_u8(w, 1); gw_u8(w, 0);

    /* tensors: Q4_0 [64 x 3], F32 [64], F16 [4 x 3 x 2 x 2] */
    im->tbytes[0] = 2 * 18 * 3;
    im->tbytes[1] = 64 * 4;
    im->tbytes[2] = 4 * 3 * 2 * 2 * 2;
    im->toff[0] = 0;
    im->toff[1] = (im->toff[0] + im->tbytes[0] + A - 1) / A * A;
    im->toff[2] = (im->toff[1] + im->tbytes[1] + A - 1) / A * A;

    im->mark[M_T0_NAMELEN] = w->n;
    im->mark[M_T0_NAME] = w->n + 8;
    gw_str(w, "tok.weight");
    im->mark[M_T0_NDIMS] = w->n;
    gw_u32(w, 2);
    im->mark[M_T0_NE0] = w->n;
    gw_u64(w, 64);
    im->mark[M_T0_NE1] = w->n;
    gw_u64(w, 3);
    im->mark[M_T0_TYPE] = w->n;
    gw_u32(w, SMELT_TYPE_Q4_0);
    im->mark[M_T0_OFF] = w->n;
    gw_u64(w, im->toff[0]);

    im->mark[M_T1_NAME] = w->n + 8;
    gw_str(w, "nrm.weight");
    gw_u32(w, 1);
    im->mark[M_T1_NE0] = w->n;
    gw_u64(w, 64);
    im->mark[M_T1_TYPE] = w->n;
    gw_u32(w, SMELT_TYPE_F32);
    im->mark[M_T1_OFF] = w->n;
    gw_u64(w, im->toff[1]);

    gw_str(w, "blk.0.w4d");
    gw_u32(w, 4);
    gw_u64(w, 4); gw_u64(w, 3);
    im->mark[M_T2_NE2] = w->n;
    gw_u64(w, 2); gw_u64(w, 2);
    gw_u32(w, SMELT_TYPE_F16);
    im->mark[M_T2_OFF] = w->n;
    gw_u64(w, im->toff[2]);

    gw_pad(w, A);
    im->mark[M_DATA] = w->n;
    for (int t = 0; t < 3; t++) {
        while (w->n < im->mark[M_DATA] + im->toff[t]) gw_u8(w, 0);
        for (size_t i = 0; i < im->tbytes[t]; i++) gw_u8(w, (uint8_t)(i * 7 + (size_t)t * 31));
    }
}

static inline void test_image_free(struct test_image *im) {
    free(im->w.p);
    im->w.p = NULL;
}

#endif
