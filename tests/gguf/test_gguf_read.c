/* gguf_read: builds valid GGUF images in memory (v2 and v3, default and custom
 * alignment) and checks every accessor, getter and tensor field; also opens one
 * from a file (mmap path) and checks smelt_gguf_print's output. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gguf/gguf_build.h"
#include "smelt/gguf.h"

static void check_types(void) {
    static const struct {
        uint32_t id;
        const char *name;
        uint32_t blck, bytes;
    } want[] = {
        {0, "F32", 1, 4},        {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
        {6, "Q5_0", 32, 22},     {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 36},
        {10, "Q2_K", 256, 84},   {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
        {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
        {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
        {22, "IQ2_S", 256, 82},  {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},        {25, "I16", 1, 2},
        {26, "I32", 1, 4},       {27, "I64", 1, 8},        {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
        {30, "BF16", 1, 2},      {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint32_t b = 0, by = 0;
        CHECKF(smelt_type_layout(want[i].id, &b, &by), "type %u", want[i].id);
        CHECKF(b == want[i].blck && by == want[i].bytes, "type %u: %u/%u", want[i].id, b, by);
        CHECKF(strcmp(smelt_type_name(want[i].id), want[i].name) == 0, "type %u: %s", want[i].id,
               smelt_type_name(want[i].id));
    }
    static const uint32_t bad[] = {4, 5, 31, 32, 33, 36, 37, 38, 39, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t b = 1, by = 1;
        CHECKF(!smelt_type_layout(bad[i], &b, &by), "type %u should be unknown", bad[i]);
        CHECK(b == 0 && by == 0);
        CHECK(strcmp(smelt_type_name(bad[i]), "unknown") == 0);
    }
}

static void check_image(const struct smelt_gguf *g, const struct test_image *im, uint32_t version,
                        uint32_t alignment) {
    CHECK(smelt_gguf_version(g) == version);
    CHECK(smelt_gguf_alignment(g) == (alignment ? alignment : 32));
    CHECK(smelt_gguf_file_size(g) == im->w.n);
    CHECK(smelt_gguf_data_offset(g) == im->mark[M_DATA]);
    CHECK(smelt_gguf_n_kv(g) == TEST_IMAGE_N_KV - (alignment ? 0 : 1));
    CHECK(smelt_gguf_n_tensors(g) == 3);
    CHECK(strcmp(smelt_gguf_kv_key(g, 0), "general.architecture") == 0);
    CHECK(smelt_gguf_kv_type(g, 0) == SMELT_GGUF_STRING);
    CHECK(smelt_gguf_kv_key(g, -1) == NULL);
    CHECK(smelt_gguf_kv_key(g, smelt_gguf_n_kv(g)) == NULL);
    for (int64_t i = 0; i < smelt_gguf_n_kv(g); i++)
        CHECK(smelt_gguf_find_key(g, smelt_gguf_kv_key(g, i)) == i);
    CHECK(smelt_gguf_find_key(g, "nope") == -1);
    CHECK(smelt_gguf_find_key(g, "t.u") == -1);

    const char *s;
    size_t len;
    CHECK(smelt_gguf_get_str(g, "general.architecture", &s, &len) == SMELT_OK);
    CHECK(len == 8 && strcmp(s, "testarch") == 0);
    CHECK(smelt_gguf_get_str(g, "t.str", &s, &len) == SMELT_OK);
    CHECK(len == 16 && memcmp(s, "hello\0world \"q\"\n", 16) == 0 && s[16] == 0);

    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float f;
    bool b;
    CHECK(smelt_gguf_get_u32(g, "t.u8", &u32) == SMELT_OK && u32 == 200);
    CHECK(smelt_gguf_get_u32(g, "t.u16", &u32) == SMELT_OK && u32 == 60000);
    CHECK(smelt_gguf_get_u32(g, "t.u32", &u32) == SMELT_OK && u32 == 4000000000u);
    CHECK(smelt_gguf_get_u32(g, "t.small_i64", &u32) == SMELT_OK && u32 == 7);
    CHECK(smelt_gguf_get_i64(g, "t.i8", &i64) == SMELT_OK && i64 == -100);
    CHECK(smelt_gguf_get_i64(g, "t.i16", &i64) == SMELT_OK && i64 == -30000);
    CHECK(smelt_gguf_get_i64(g, "t.i32", &i64) == SMELT_OK && i64 == -2000000000);
    CHECK(smelt_gguf_get_i64(g, "t.i64", &i64) == SMELT_OK && i64 == -(INT64_C(1) << 62));
    CHECK(smelt_gguf_get_i64(g, "t.u32", &i64) == SMELT_OK && i64 == 4000000000);
    CHECK(smelt_gguf_get_u64(g, "t.u64", &u64) == SMELT_OK && u64 == (1ull << 63) + 5);
    CHECK(smelt_gguf_get_u64(g, "t.u8", &u64) == SMELT_OK && u64 == 200);
    CHECK(smelt_gguf_get_f32(g, "t.f32", &f) == SMELT_OK && f == 1.5f);
    CHECK(smelt_gguf_get_f32(g, "t.f64", &f) == SMELT_OK && f == 3.25f);
    CHECK(smelt_gguf_get_f32(g, "t.i16", &f) == SMELT_OK && f == -30000.0f);
    CHECK(smelt_gguf_get_bool(g, "t.bool", &b) == SMELT_OK && b == true);
    if (alignment) {
        CHECK(smelt_gguf_get_u32(g, "general.alignment", &u32) == SMELT_OK && u32 == alignment);
    }

    /* values that do not fit, wrong types, absent keys */
    smelt_clear_error();
    CHECK(smelt_gguf_get_u32(g, "t.u64", &u32) == SMELT_ERR_FORMAT && u32 == 0);
    CHECK(strstr(smelt_last_error(), "t.u64") != NULL);
    CHECK(smelt_gguf_get_u32(g, "t.i8", &u32) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_u64(g, "t.i64", &u64) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_i64(g, "t.u64", &i64) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_u32(g, "t.str", &u32) == SMELT_ERR_FORMAT);
    CHECKF(strstr(smelt_last_error(), "t.str") && strstr(smelt_last_error(), "str"), "%s", smelt_last_error());
    CHECK(smelt_gguf_get_u32(g, "t.f32", &u32) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_u32(g, "t.bool", &u32) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_f32(g, "t.str", &f) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_f32(g, "t.bool", &f) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_bool(g, "t.u8", &b) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_str(g, "t.u8", &s, &len) == SMELT_ERR_FORMAT && s == NULL);
    CHECK(smelt_gguf_get_str(g, "t.arr_str", &s, &len) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_i64(g, "t.arr_i32", &i64) == SMELT_ERR_FORMAT);
    smelt_clear_error();
    CHECK(smelt_gguf_get_u32(g, "absent", &u32) == SMELT_ERR_NOT_FOUND);
    CHECK(smelt_gguf_get_str(g, "absent", &s, &len) == SMELT_ERR_NOT_FOUND);
    CHECK(smelt_last_error()[0] == 0);

    /* arrays */
    enum smelt_gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(smelt_gguf_get_arr(g, "t.arr_i32", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_INT32 && n == 3 && data != NULL);
    if (data) {
        int32_t v[3];
        memcpy(v, data, sizeof v);
        CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3);
    }
    CHECK(smelt_gguf_get_arr(g, "t.arr_f32", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_FLOAT32 && n == 2);
    if (data) {
        float v[2];
        memcpy(v, data, sizeof v);
        CHECK(v[0] == 0.5f && v[1] == -2.0f);
    }
    CHECK(smelt_gguf_get_arr(g, "t.arr_str", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_STRING && n == 3 && data == NULL);
    CHECK(strcmp(smelt_gguf_arr_str(g, "t.arr_str", 0, &len), "a") == 0 && len == 1);
    CHECK(strcmp(smelt_gguf_arr_str(g, "t.arr_str", 1, &len), "") == 0 && len == 0);
    CHECK(strcmp(smelt_gguf_arr_str(g, "t.arr_str", 2, &len), "ccc") == 0 && len == 3);
    CHECK(smelt_gguf_arr_str(g, "t.arr_str", 3, &len) == NULL);
    CHECK(smelt_gguf_arr_str(g, "t.arr_i32", 0, &len) == NULL);
    CHECK(smelt_gguf_arr_str(g, "absent", 0, &len) == NULL);
    CHECK(smelt_gguf_get_arr(g, "t.arr_nested", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_ARRAY && n == 2 && data == NULL);
    CHECK(smelt_gguf_get_arr(g, "t.arr_empty", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_UINT8 && n == 0);
    CHECK(smelt_gguf_get_arr(g, "t.arr_bool", &et, &n, &data) == SMELT_OK);
    CHECK(et == SMELT_GGUF_BOOL && n == 2 && ((const uint8_t *)data)[0] == 1);
    CHECK(smelt_gguf_get_arr(g, "t.u8", &et, &n, &data) == SMELT_ERR_FORMAT);
    CHECK(smelt_gguf_get_arr(g, "absent", &et, &n, &data) == SMELT_ERR_NOT_FOUND);

    /* tensors */
    static const char *names[3] = {"tok.weight", "nrm.weight", "blk.0.w4d"};
    static const uint32_t types[3] = {SMELT_TYPE_Q4_0, SMELT_TYPE_F32, SMELT_TYPE_F16};
    static const uint32_t ndims[3] = {2, 1, 4};
    static const int64_t ne[3][4] = {{64, 3, 1, 1}, {64, 1, 1, 1}, {4, 3, 2, 2}};
    for (int i = 0; i < 3; i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(strcmp(t->name, names[i]) == 0);
        CHECK(smelt_gguf_find_tensor(g, names[i]) == t);
        CHECK(t->type == types[i]);
        CHECK(t->n_dims == ndims[i]);
        for (int d = 0; d < 4; d++) CHECKF(t->ne[d] == ne[i][d], "tensor %d ne[%d]=%" PRId64, i, d, t->ne[d]);
        CHECK(t->offset == im->toff[i]);
        CHECK(t->nbytes == im->tbytes[i]);
        CHECK((const uint8_t *)t->data == (const uint8_t *)smelt_gguf_tensor(g, 0)->data + im->toff[i]);
        const uint8_t *d = t->data;
        CHECK(d[0] == (uint8_t)(i * 31) && d[t->nbytes - 1] == (uint8_t)((t->nbytes - 1) * 7 + (size_t)i * 31));
    }
    CHECK(smelt_gguf_tensor(g, 3) == NULL && smelt_gguf_tensor(g, -1) == NULL);
    CHECK(smelt_gguf_find_tensor(g, "tok") == NULL);
    CHECK(smelt_gguf_find_tensor(g, "") == NULL);
}

static void check_print(const struct smelt_gguf *g) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CHECK(f != NULL);
    if (!f) return;
    CHECK(smelt_gguf_print(g, f) == SMELT_OK);
    fclose(f);
    static const char *want[] = {"GGUF v3", "general.architecture", "\"testarch\"", "t.u64", "9223372036854775813",
                                 "-4611686018427387904", "[i32 x 3] 1, -2, 3", "[str x 3] \"a\", \"\", \"ccc\"",
                                 "\"hello\\x00world \\\"q\\\"\\n\"", "tok.weight", "Q4_0", "64 x 3", "4 x 3 x 2 x 2",
                                 "total: 3 tensors", "[arr x 2]", "true"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECKF(strstr(buf, want[i]) != NULL, "print output lacks <%s>:\n%s", want[i], buf);
    if (getenv("GGUF_TEST_VERBOSE")) fputs(buf, stdout);
    free(buf);
}

int main(void) {
    check_types();
    static const uint32_t versions[] = {2, 3};
    static const uint32_t aligns[] = {0, 32, 1, 8, 64, 4096};
    for (int vi = 0; vi < 2; vi++) {
        for (size_t ai = 0; ai < sizeof aligns / sizeof aligns[0]; ai++) {
            struct test_image im;
            test_image_build(&im, versions[vi], aligns[ai]);
            struct smelt_gguf *g = NULL;
            enum smelt_status st = smelt_gguf_open_memory(im.w.p, im.w.n, "test.gguf", &g);
            CHECKF(st == SMELT_OK, "v%u align %u: %s", versions[vi], aligns[ai], smelt_last_error());
            if (g) {
                check_image(g, &im, versions[vi], aligns[ai]);
                if (versions[vi] == 3 && aligns[ai] == 64) check_print(g);
            }
            smelt_gguf_free(g);
            test_image_free(&im);
        }
    }

    /* file path (mmap) */
    struct test_image im;
    test_image_build(&im, 3, 0);
    char path[] = "/tmp/smelt_gguf_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, im.w.p, im.w.n) == (ssize_t)im.w.n);
        close(fd);
        struct smelt_gguf *g = NULL;
        CHECKF(smelt_gguf_open(path, &g) == SMELT_OK, "%s", smelt_last_error());
        if (g) check_image(g, &im, 3, 0);
        smelt_gguf_free(g);
        unlink(path);
    }
    test_image_free(&im);
    struct smelt_gguf *g = (struct smelt_gguf *)1;
    CHECK(smelt_gguf_open("/nonexistent/x.gguf", &g) != SMELT_OK && g == NULL);
    CHECK(strstr(smelt_last_error(), "/nonexistent/x.gguf") != NULL);
    CHECK(smelt_gguf_open("/tmp", &g) == SMELT_ERR_IO && g == NULL);

    /* empty file list of tensors and keys: minimal valid file */
    struct gw w = {0};
    gw_header(&w, 3, 0, 0);
    CHECKF(smelt_gguf_open_memory(w.p, w.n, "empty.gguf", &g) == SMELT_OK, "%s", smelt_last_error());
    CHECK(g && smelt_gguf_n_kv(g) == 0 && smelt_gguf_n_tensors(g) == 0);
    CHECK(smelt_gguf_find_tensor(g, "x") == NULL && smelt_gguf_find_key(g, "x") == -1);
    smelt_gguf_free(g);
    free(w.p);
    smelt_gguf_free(NULL);

    /* many keys and tensors: every one is found through the name index */
    {
        enum { NK = 50000, NT = 5000 };
        char name[64];
        memset(&w, 0, sizeof w);
        gw_header(&w, 3, NT, NK);
        for (int i = 0; i < NK; i++) {
            snprintf(name, sizeof name, "key.%d", i);
            gw_key(&w, name, SMELT_GGUF_INT32);
            gw_u32(&w, (uint32_t)i);
        }
        for (int i = 0; i < NT; i++) {
            snprintf(name, sizeof name, "blk.%d.weight", i);
            gw_str(&w, name);
            gw_u32(&w, 1);
            gw_u64(&w, 3);
            gw_u32(&w, SMELT_TYPE_F32);
            gw_u64(&w, (uint64_t)i * 32);
        }
        gw_pad(&w, 32);
        for (int i = 0; i < NT * 32; i++) gw_u8(&w, 0);
        CHECKF(smelt_gguf_open_memory(w.p, w.n, "many.gguf", &g) == SMELT_OK, "%s", smelt_last_error());
        int bad = 0;
        for (int i = 0; g && i < NK; i++) {
            snprintf(name, sizeof name, "key.%d", i);
            int64_t v;
            bad += smelt_gguf_find_key(g, name) != i || smelt_gguf_get_i64(g, name, &v) != SMELT_OK || v != i;
        }
        for (int i = 0; g && i < NT; i++) {
            snprintf(name, sizeof name, "blk.%d.weight", i);
            bad += smelt_gguf_find_tensor(g, name) != smelt_gguf_tensor(g, i);
        }
        CHECK(g && bad == 0);
        CHECK(smelt_gguf_find_key(g, "key.50000") == -1);
        smelt_gguf_free(g);
        free(w.p);
    }

    /* f64 values: in range, infinite, NaN, and too large for f32 */
    memset(&w, 0, sizeof w);
    gw_header(&w, 3, 0, 4);
    gw_key(&w, "ok", SMELT_GGUF_FLOAT64); gw_f64(&w, -0.25);
    gw_key(&w, "inf", SMELT_GGUF_FLOAT64); gw_f64(&w, -INFINITY);
    gw_key(&w, "nan", SMELT_GGUF_FLOAT64); gw_f64(&w, NAN);
    gw_key(&w, "big", SMELT_GGUF_FLOAT64); gw_f64(&w, 1e300);
    CHECKF(smelt_gguf_open_memory(w.p, w.n, "f64.gguf", &g) == SMELT_OK, "%s", smelt_last_error());
    if (g) {
        float f;
        CHECK(smelt_gguf_get_f32(g, "ok", &f) == SMELT_OK && f == -0.25f);
        CHECK(smelt_gguf_get_f32(g, "inf", &f) == SMELT_OK && isinf(f) && f < 0);
        CHECK(smelt_gguf_get_f32(g, "nan", &f) == SMELT_OK && isnan(f));
        CHECK(smelt_gguf_get_f32(g, "big", &f) == SMELT_ERR_FORMAT && f == 0);
        CHECK(strstr(smelt_last_error(), "big") != NULL);
    }
    smelt_gguf_free(g);
    free(w.p);
    return CHECK_EXIT();
}
