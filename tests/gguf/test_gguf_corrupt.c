/* gguf_corrupt: every strict prefix of a valid image (v2, v3, custom alignment)
 * must be refused with SMELT_ERR_FORMAT and a message; then targeted mutations,
 * one per validation rule, must be refused with the expected status and a
 * message that names the offending field. Buffers are copied to exact-size
 * heap blocks so ASan catches any read past the end. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gguf/gguf_build.h"
#include "smelt/gguf.h"

/* Open a copy of (p, n); return the status and check the invariants of a
 * failed open (NULL out, non-empty message containing the file name). */
static enum smelt_status try_open(const uint8_t *p, size_t n) {
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, p, n);
    struct smelt_gguf *g = (struct smelt_gguf *)&g; /* must be reset to NULL */
    smelt_clear_error();
    enum smelt_status s = smelt_gguf_open_memory(copy, n, "bad.gguf", &g);
    if (s != SMELT_OK) {
        CHECK(g == NULL);
        CHECKF(strstr(smelt_last_error(), "bad.gguf") != NULL, "message lacks file name: %s", smelt_last_error());
    } else {
        smelt_gguf_free(g);
    }
    free(copy);
    return s;
}

static void truncations(uint32_t version, uint32_t alignment) {
    struct test_image im;
    test_image_build(&im, version, alignment);
    CHECK(try_open(im.w.p, im.w.n) == SMELT_OK);
    for (size_t n = 0; n < im.w.n; n++) {
        enum smelt_status s = try_open(im.w.p, n);
        const char *m = smelt_last_error();
        CHECKF(s == SMELT_ERR_FORMAT, "v%u prefix %zu/%zu: status %d", version, n, im.w.n, (int)s);
        CHECKF(strstr(m, "truncated") || strstr(m, "past the end") || strstr(m, "cannot fit") ||
                   strstr(m, "outside the data section"),
               "prefix %zu: message does not say truncated: %s", n, m);
    }
    test_image_free(&im);
}

struct mutation {
    const char *label;
    int mark;          /* field to overwrite */
    int width;         /* 1, 4 or 8 bytes */
    uint64_t value;
    uint32_t alignment; /* image alignment (0 = default) */
    enum smelt_status want;
    const char *words[3]; /* substrings the message must contain */
    const char *bytes;    /* if set: copied over the field instead of `value` */
};

/* Entries leave `bytes` out unless they need it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct mutation mutations[] = {
    {"n_kv huge", M_N_KV, 8, 1ull << 60, 0, SMELT_ERR_FORMAT, {"n_kv", "offset 16"}},
    {"n_kv max", M_N_KV, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"n_kv"}},
    {"n_tensors huge", M_N_TENSORS, 8, 1ull << 60, 0, SMELT_ERR_FORMAT, {"n_tensors", "offset 8"}},
    {"n_kv too many", M_N_KV, 8, TEST_IMAGE_N_KV + 5, 32, SMELT_ERR_FORMAT, {"kv[22]", "past the end"}},
    {"key NUL", M_I8_KEY, 1, 0, 0, SMELT_ERR_FORMAT, {"kv[2]", "NUL"}},
    {"key length 0", M_ARCH_KEYLEN, 8, 0, 0, SMELT_ERR_FORMAT, {"kv[0]", "key length 0"}},
    {"key length past end", M_ARCH_KEYLEN, 8, 100000, 0, SMELT_ERR_FORMAT, {"kv[0] key", "past the end"}},
    {"key length 2^64-1", M_ARCH_KEYLEN, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"kv[0] key", "18446744073709551615"}},
    {"string length 2^64-1", M_ARCH_STRLEN, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"general.architecture", "string length"}},
    {"string length 2^63", M_ARCH_STRLEN, 8, 1ull << 63, 0, SMELT_ERR_FORMAT, {"general.architecture", "past the end"}},
    {"alignment as i32", M_ALIGN_TYPE, 4, SMELT_GGUF_INT32, 64, SMELT_ERR_FORMAT, {"general.alignment", "type i32"}},
    {"alignment as f32", M_ALIGN_TYPE, 4, SMELT_GGUF_FLOAT32, 64, SMELT_ERR_FORMAT, {"general.alignment", "u32"}},
    {"alignment 0", M_ALIGN_VAL, 4, 0, 64, SMELT_ERR_FORMAT, {"general.alignment", "power of two"}},
    {"alignment 48", M_ALIGN_VAL, 4, 48, 64, SMELT_ERR_FORMAT, {"general.alignment = 48", "power of two"}},
    {"alignment 2^31+1", M_ALIGN_VAL, 4, 0x80000001u, 64, SMELT_ERR_FORMAT, {"power of two"}},
    {"alignment huge", M_ALIGN_VAL, 4, 0x80000000u, 64, SMELT_ERR_FORMAT, {"data section"}},
    {"duplicate key", M_I8_KEY, 0, 0, 0, SMELT_ERR_FORMAT, {"duplicate key", "t.u8", "kv[1]"}, "t.u8"},
    {"invalid value type", M_I8_TYPE, 4, 13, 0, SMELT_ERR_FORMAT, {"t.i8", "invalid value type 13"}},
    {"invalid value type max", M_I8_TYPE, 4, UINT32_MAX, 0, SMELT_ERR_FORMAT, {"t.i8", "invalid value type"}},
    {"bool 2", M_BOOL_VAL, 1, 2, 0, SMELT_ERR_FORMAT, {"t.bool", "bool value 2"}},
    {"bool 255", M_BOOL_VAL, 1, 255, 0, SMELT_ERR_FORMAT, {"t.bool", "bool"}},
    {"bool array element", M_ARR_BOOL_E0, 1, 7, 0, SMELT_ERR_FORMAT, {"t.arr_bool", "bool array element 0"}},
    {"array element type", M_ARR_I32_TYPE, 4, 13, 0, SMELT_ERR_FORMAT, {"t.arr_i32", "element type 13"}},
    {"array count huge", M_ARR_I32_N, 8, 1ull << 62, 0, SMELT_ERR_FORMAT, {"t.arr_i32", "past the end"}},
    {"array count max", M_ARR_I32_N, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"t.arr_i32", "past the end"}},
    {"array count +1", M_ARR_I32_N, 8, 4, 0, SMELT_ERR_FORMAT, {"kv[15]"}},
    {"string array count huge", M_ARR_STR_N, 8, 1ull << 61, 0, SMELT_ERR_FORMAT, {"t.arr_str", "strings"}},
    {"string array count max", M_ARR_STR_N, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"t.arr_str", "past the end"}},
    {"string array elem length", M_ARR_STR_E1_LEN, 8, UINT64_MAX - 3, 0, SMELT_ERR_FORMAT, {"t.arr_str", "string length"}},
    {"tensor name length 0", M_T0_NAMELEN, 8, 0, 0, SMELT_ERR_FORMAT, {"tensor[0]", "name length 0"}},
    {"tensor name length max", M_T0_NAMELEN, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"tensor[0] name", "past the end"}},
    {"tensor name NUL", M_T0_NAME, 1, 0, 0, SMELT_ERR_FORMAT, {"tensor[0]", "NUL"}},
    {"duplicate tensor name", M_T1_NAME, 0, 0, 0, SMELT_ERR_FORMAT, {"duplicate tensor name", "tok.weight", "tensor[0]"}, "tok"},
    {"n_dims 0", M_T0_NDIMS, 4, 0, 0, SMELT_ERR_FORMAT, {"tok.weight", "n_dims = 0"}},
    {"n_dims 5", M_T0_NDIMS, 4, 5, 0, SMELT_ERR_FORMAT, {"tok.weight", "n_dims = 5"}},
    {"n_dims max", M_T0_NDIMS, 4, UINT32_MAX, 0, SMELT_ERR_FORMAT, {"tok.weight", "n_dims"}},
    {"ne0 zero", M_T0_NE0, 8, 0, 0, SMELT_ERR_FORMAT, {"tok.weight", "ne[0] = 0"}},
    {"ne1 zero", M_T0_NE1, 8, 0, 0, SMELT_ERR_FORMAT, {"tok.weight", "ne[1] = 0"}},
    {"ne1 negative", M_T0_NE1, 8, UINT64_MAX, 0, SMELT_ERR_FORMAT, {"tok.weight", "ne[1] = -1"}},
    {"ne1 2^63", M_T0_NE1, 8, 1ull << 63, 0, SMELT_ERR_FORMAT, {"tok.weight", "ne[1]"}},
    {"element count overflow", M_T0_NE1, 8, 1ull << 62, 0, SMELT_ERR_FORMAT, {"tok.weight", "element count overflows"}},
    {"element count overflow 4d", M_T2_NE2, 8, 1ull << 61, 0, SMELT_ERR_FORMAT, {"blk.0.w4d", "overflows"}},
    {"byte size overflow", M_T1_NE0, 8, 1ull << 62, 0, SMELT_ERR_FORMAT, {"nrm.weight", "byte size overflows"}},
    {"huge tensor", M_T1_NE0, 8, 1ull << 40, 0, SMELT_ERR_FORMAT, {"nrm.weight", "outside the data section"}},
    {"row not whole blocks", M_T0_NE0, 8, 48, 0, SMELT_ERR_FORMAT, {"tok.weight", "block size 32"}},
    {"row smaller than block", M_T0_NE0, 8, 1, 0, SMELT_ERR_FORMAT, {"tok.weight", "block size"}},
    {"type 4 (Q4_2)", M_T0_TYPE, 4, 4, 0, SMELT_ERR_FORMAT, {"tok.weight", "unknown tensor type id 4"}},
    {"type 5 (Q4_3)", M_T0_TYPE, 4, 5, 0, SMELT_ERR_FORMAT, {"unknown tensor type id 5"}},
    {"type 31", M_T0_TYPE, 4, 31, 0, SMELT_ERR_FORMAT, {"unknown tensor type id 31"}},
    {"type 32", M_T0_TYPE, 4, 32, 0, SMELT_ERR_FORMAT, {"unknown tensor type id 32"}},
    {"type 33", M_T0_TYPE, 4, 33, 0, SMELT_ERR_FORMAT, {"unknown tensor type id 33"}},
    {"type 36", M_T1_TYPE, 4, 36, 0, SMELT_ERR_FORMAT, {"nrm.weight", "unknown tensor type id 36"}},
    {"type max", M_T1_TYPE, 4, UINT32_MAX, 0, SMELT_ERR_FORMAT, {"unknown tensor type"}},
    {"offset unaligned", M_T1_OFF, 8, 129, 64, SMELT_ERR_FORMAT, {"nrm.weight", "not a multiple of the alignment 64"}},
    {"offset unaligned default", M_T1_OFF, 8, 144, 0, SMELT_ERR_FORMAT, {"nrm.weight", "alignment 32"}},
    {"offset outside", M_T2_OFF, 8, 1ull << 40, 0, SMELT_ERR_FORMAT, {"blk.0.w4d", "outside the data section"}},
    {"offset wraps", M_T2_OFF, 8, UINT64_MAX - 31, 0, SMELT_ERR_FORMAT, {"blk.0.w4d", "outside"}},
    {"offset overlap", M_T1_OFF, 8, 64, 64, SMELT_ERR_FORMAT, {"overlaps", "tok.weight"}},
    {"offset same", M_T2_OFF, 8, 0, 0, SMELT_ERR_FORMAT, {"overlaps"}},
};
#pragma GCC diagnostic pop

static void targeted(void) {
    for (size_t k = 0; k < sizeof mutations / sizeof mutations[0]; k++) {
        const struct mutation *m = &mutations[k];
        for (uint32_t version = 2; version <= 3; version++) {
            struct test_image im;
            test_image_build(&im, version, m->alignment);
            size_t at = im.mark[m->mark];
            if (m->bytes) memcpy(im.w.p + at, m->bytes, strlen(m->bytes));
            else if (m->width == 1) im.w.p[at] = (uint8_t)m->value;
            else if (m->width == 4) gw_put_u32(&im.w, at, (uint32_t)m->value);
            else gw_put_u64(&im.w, at, m->value);
            enum smelt_status s = try_open(im.w.p, im.w.n);
            const char *msg = smelt_last_error();
            CHECKF(s == m->want, "%s (v%u): status %s, want %s (%s)", m->label, version, smelt_status_str(s),
                   smelt_status_str(m->want), msg);
            for (int w = 0; w < 3 && m->words[w]; w++)
                CHECKF(strstr(msg, m->words[w]) != NULL, "%s: message lacks '%s': %s", m->label, m->words[w], msg);
            if (getenv("GGUF_TEST_VERBOSE")) printf("%-28s %s\n", m->label, msg);
            test_image_free(&im);
        }
    }
}

static void expect(const char *label, struct gw *w, enum smelt_status want, const char *word) {
    enum smelt_status s = try_open(w->p, w->n);
    CHECKF(s == want, "%s: status %s, want %s (%s)", label, smelt_status_str(s), smelt_status_str(want),
           smelt_last_error());
    CHECKF(word == NULL || strstr(smelt_last_error(), word), "%s: message lacks '%s': %s", label, word,
           smelt_last_error());
    if (getenv("GGUF_TEST_VERBOSE")) printf("%-28s %s\n", label, smelt_last_error());
    free(w->p);
    memset(w, 0, sizeof *w);
}

static void structural(void) {
    struct gw w = {0};
    /* header fields */
    gw_bytes(&w, "GGUX", 4); gw_u32(&w, 3); gw_u64(&w, 0); gw_u64(&w, 0);
    expect("bad magic", &w, SMELT_ERR_FORMAT, "not a GGUF file");
    gw_header(&w, 1, 0, 0);
    expect("version 1", &w, SMELT_ERR_UNSUPPORTED, "version 1");
    gw_header(&w, 4, 0, 0);
    expect("version 4", &w, SMELT_ERR_UNSUPPORTED, "version 4");
    gw_header(&w, 0, 0, 0);
    expect("version 0", &w, SMELT_ERR_FORMAT, "version 0");
    gw_header(&w, 0x03000000u, 0, 0);
    expect("big-endian", &w, SMELT_ERR_UNSUPPORTED, "big-endian");
    gw_header(&w, 3, 0, 0);
    w.n -= 1;
    expect("header truncated", &w, SMELT_ERR_FORMAT, "n_kv");

    /* a key longer than 64 KiB (fully present in the file) */
    {
        size_t kl = 70000;
        char *key = malloc(kl);
        memset(key, 'k', kl);
        gw_header(&w, 3, 0, 1);
        gw_strn(&w, key, kl);
        gw_u32(&w, SMELT_GGUF_UINT8);
        gw_u8(&w, 1);
        free(key);
        expect("key length 70000", &w, SMELT_ERR_FORMAT, "key length 70000");
    }
    /* alignment stored as u64 (different size than u32) */
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "general.alignment", SMELT_GGUF_UINT64);
    gw_u64(&w, 32);
    expect("alignment u64", &w, SMELT_ERR_FORMAT, "general.alignment has type u64");
    /* alignment as a string */
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "general.alignment", SMELT_GGUF_STRING);
    gw_str(&w, "32");
    expect("alignment str", &w, SMELT_ERR_FORMAT, "general.alignment has type str");
    /* deeply nested arrays */
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "deep", SMELT_GGUF_ARRAY);
    for (int d = 0; d < 20; d++) {
        gw_u32(&w, SMELT_GGUF_ARRAY);
        gw_u64(&w, 1);
    }
    gw_u32(&w, SMELT_GGUF_UINT8);
    gw_u64(&w, 0);
    expect("deep nesting", &w, SMELT_ERR_FORMAT, "nested deeper");
    /* nested array with an invalid inner type */
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "nest", SMELT_GGUF_ARRAY);
    gw_u32(&w, SMELT_GGUF_ARRAY);
    gw_u64(&w, 1);
    gw_u32(&w, 77);
    gw_u64(&w, 0);
    expect("nested bad type", &w, SMELT_ERR_FORMAT, "element type 77");
    /* nested array count huge */
    gw_header(&w, 3, 0, 1);
    gw_key(&w, "nest", SMELT_GGUF_ARRAY);
    gw_u32(&w, SMELT_GGUF_ARRAY);
    gw_u64(&w, 1ull << 62);
    expect("nested count", &w, SMELT_ERR_FORMAT, "arrays runs past the end");
    /* valid: nested arrays within the limit are skipped */
    gw_header(&w, 3, 0, 2);
    gw_key(&w, "nest", SMELT_GGUF_ARRAY);
    for (int d = 0; d < 5; d++) {
        gw_u32(&w, SMELT_GGUF_ARRAY);
        gw_u64(&w, 1);
    }
    gw_u32(&w, SMELT_GGUF_STRING);
    gw_u64(&w, 2);
    gw_str(&w, "x");
    gw_str(&w, "yy");
    gw_key(&w, "after", SMELT_GGUF_UINT32);
    gw_u32(&w, 9);
    expect("nested ok", &w, SMELT_OK, NULL);
    /* tensor data section: padding missing after the tensor infos */
    gw_header(&w, 3, 1, 0);
    gw_str(&w, "t");
    gw_u32(&w, 1);
    gw_u64(&w, 4);
    gw_u32(&w, SMELT_TYPE_F32);
    gw_u64(&w, 0);
    expect("no data", &w, SMELT_ERR_FORMAT, "data section");
    /* n_kv and n_tensors individually plausible but together too many */
    gw_header(&w, 3, 3, 3);
    for (int i = 0; i < 100; i++) gw_u8(&w, 0);
    expect("counts together", &w, SMELT_ERR_FORMAT, "n_tensors = 3");
}

int main(void) {
    truncations(3, 0);
    truncations(2, 0);
    truncations(3, 64);
    truncations(3, 1);
    targeted();
    structural();
    return CHECK_EXIT();
}
