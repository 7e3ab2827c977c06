/* gguf_write: the GGUF writer.
 *   test_gguf_write api            typed setters read back by smelt's reader; error cases
 *   test_gguf_write copy FILE...   copy every key and tensor of FILE (streamed) and
 *                                  require the copy to be byte-identical to FILE
 *   test_gguf_write copyto IN OUT  copy IN to OUT (used by gguf_py_writer.py, which
 *                                  compares the copy with gguf-py's file)
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "smelt/gguf.h"

static char g_dir[] = "/tmp/smelt_gguf_write_XXXXXX";

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static enum smelt_status copy_file(const char *in, const char *out) {
    struct smelt_gguf *g = NULL;
    struct smelt_gguf_writer *w = NULL;
    enum smelt_status s = smelt_gguf_open(in, &g);
    if (!s) s = smelt_gguf_writer_new(&w);
    for (int64_t i = 0; !s && i < smelt_gguf_n_kv(g); i++) s = smelt_gguf_writer_copy_kv(w, g, i);
    for (int64_t i = 0; !s && i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        s = smelt_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL, NULL);
    }
    if (!s) s = smelt_gguf_writer_open(w, out);
    for (int64_t i = 0; !s && i < smelt_gguf_n_tensors(g); i++) {
        const struct smelt_gguf_tensor *t = smelt_gguf_tensor(g, i);
        s = smelt_gguf_writer_write_tensor(w, i, t->data, t->nbytes);
    }
    if (!s) s = smelt_gguf_writer_close(w);
    if (s) fprintf(stderr, "copy %s -> %s: %s\n", in, out, smelt_last_error());
    smelt_gguf_writer_free(w);
    smelt_gguf_free(g);
    return s;
}

static bool same_bytes(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    char x[1 << 16], y[1 << 16];
    long long off = 0;
    while (same) {
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        if (na != nb || memcmp(x, y, na)) {
            size_t i = 0;
            while (i < na && i < nb && x[i] == y[i]) i++;
            fprintf(stderr, "%s and %s differ at byte %lld\n", a, b, off + (long long)i);
            same = false;
        }
        if (na == 0) break;
        off += (long long)na;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void check_api(void) {
    struct smelt_gguf_writer *w = NULL;
    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_str(w, "general.architecture", "smelttest") == SMELT_OK);
    CHECK(smelt_gguf_writer_set_u32(w, "t.u32", 0xFFFFFFFFu) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_i32(w, "t.i32", -5) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_u64(w, "t.u64", UINT64_MAX) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_f32(w, "t.f32", 0.1f) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_bool(w, "t.bool", true) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_str(w, "t.str", "old") == SMELT_OK);
    CHECK(smelt_gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo") == SMELT_OK); /* replaced in place */
    const float fa[3] = {0.5f, -1.25f, 3e-30f};
    CHECK(smelt_gguf_writer_set_arr(w, "t.arr_f32", SMELT_GGUF_FLOAT32, fa, 3) == SMELT_OK);
    const char *strs[] = {"a", "", "<|im_start|>"};
    CHECK(smelt_gguf_writer_set_arr_str(w, "t.arr_str", strs, 3) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_u32(w, "t.gone", 1) == SMELT_OK);
    CHECK(smelt_gguf_writer_remove(w, "t.gone"));
    CHECK(!smelt_gguf_writer_remove(w, "t.gone"));
    CHECK(smelt_gguf_writer_set_u32(w, "general.alignment", 64) == SMELT_OK);

    /* bad arguments */
    CHECK(smelt_gguf_writer_set_u32(w, "", 1) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_gguf_writer_set_u32(w, NULL, 1) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_gguf_writer_set_arr(w, "t.bad", SMELT_GGUF_STRING, strs, 3) == SMELT_ERR_INVALID_ARG);
    const uint8_t badbool[2] = {1, 2};
    CHECK(smelt_gguf_writer_set_arr(w, "t.bad", SMELT_GGUF_BOOL, badbool, 2) == SMELT_ERR_INVALID_ARG);
    CHECK(strstr(smelt_last_error(), "t.bad") != NULL);

    float f32[2 * 3];
    for (int i = 0; i < 6; i++) f32[i] = (float)i - 2.5f;
    uint8_t q8[34 * 2];
    for (int i = 0; i < (int)sizeof q8; i++) q8[i] = (uint8_t)(i * 7);
    const int64_t ne_a[2] = {3, 2}, ne_b[2] = {32, 2}, ne_odd[1] = {33};
    int64_t idx = -2;
    CHECK(smelt_gguf_writer_add_tensor(w, "a", SMELT_TYPE_F32, 2, ne_a, f32, &idx) == SMELT_OK && idx == 0);
    CHECK(smelt_gguf_writer_add_tensor(w, "b", SMELT_TYPE_Q8_0, 2, ne_b, q8, &idx) == SMELT_OK && idx == 1);
    CHECK(smelt_gguf_writer_add_tensor(w, "a", SMELT_TYPE_F32, 2, ne_a, f32, NULL) == SMELT_ERR_INVALID_ARG);
    CHECK(strstr(smelt_last_error(), "duplicate") != NULL);
    CHECK(smelt_gguf_writer_add_tensor(w, "c", SMELT_TYPE_Q8_0, 1, ne_odd, q8, NULL) == SMELT_ERR_INVALID_ARG);
    CHECK(strstr(smelt_last_error(), "multiple") != NULL);
    CHECK(smelt_gguf_writer_add_tensor(w, "c", 4, 1, ne_odd, q8, NULL) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_gguf_writer_add_tensor(w, "c", SMELT_TYPE_F32, 5, ne_a, f32, NULL) == SMELT_ERR_INVALID_ARG);
    const int64_t ne_neg[1] = {-1};
    CHECK(smelt_gguf_writer_add_tensor(w, "c", SMELT_TYPE_F32, 1, ne_neg, f32, NULL) == SMELT_ERR_INVALID_ARG);
    CHECK(smelt_gguf_writer_n_tensors(w) == 2);
    CHECK(smelt_gguf_writer_tensor_nbytes(w, 1) == 68);

    const char *path = tmp_path("api.gguf");
    CHECK(smelt_gguf_writer_write_file(w, path) == SMELT_OK);
    CHECK(!exists(tmp_path("api.gguf.tmp")));
    /* a writer that has written is done */
    CHECK(smelt_gguf_writer_set_u32(w, "t.late", 1) == SMELT_ERR_INVALID_ARG);
    smelt_gguf_writer_free(w);

    struct smelt_gguf *g = NULL;
    CHECKF(smelt_gguf_open(path, &g) == SMELT_OK, "%s", smelt_last_error());
    if (!g) return;
    CHECK(smelt_gguf_version(g) == 3 && smelt_gguf_alignment(g) == 64);
    CHECK(smelt_gguf_n_kv(g) == 10);
    CHECK(strcmp(smelt_gguf_kv_key(g, 6), "t.str") == 0); /* replaced value kept its position */
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    float f;
    bool b;
    const char *str;
    size_t len;
    CHECK(smelt_gguf_get_u32(g, "t.u32", &u32) == SMELT_OK && u32 == 0xFFFFFFFFu);
    CHECK(smelt_gguf_get_i64(g, "t.i32", &i64) == SMELT_OK && i64 == -5);
    CHECK(smelt_gguf_get_u64(g, "t.u64", &u64) == SMELT_OK && u64 == UINT64_MAX);
    CHECK(smelt_gguf_get_f32(g, "t.f32", &f) == SMELT_OK && f == 0.1f);
    CHECK(smelt_gguf_get_bool(g, "t.bool", &b) == SMELT_OK && b);
    CHECK(smelt_gguf_get_str(g, "t.str", &str, &len) == SMELT_OK && strcmp(str, "h\xc3\xa9llo") == 0 && len == 6);
    CHECK(smelt_gguf_find_key(g, "t.gone") < 0);
    enum smelt_gguf_vtype et;
    uint64_t n;
    const void *data;
    CHECK(smelt_gguf_get_arr(g, "t.arr_f32", &et, &n, &data) == SMELT_OK && et == SMELT_GGUF_FLOAT32 && n == 3 &&
          memcmp(data, fa, sizeof fa) == 0);
    CHECK(smelt_gguf_get_arr(g, "t.arr_str", &et, &n, &data) == SMELT_OK && et == SMELT_GGUF_STRING && n == 3);
    for (int i = 0; i < 3; i++) {
        const char *s = smelt_gguf_arr_str(g, "t.arr_str", (uint64_t)i, &len);
        CHECK(s && strcmp(s, strs[i]) == 0);
    }
    const struct smelt_gguf_tensor *ta = smelt_gguf_find_tensor(g, "a"), *tb = smelt_gguf_find_tensor(g, "b");
    CHECK(ta && ta->type == SMELT_TYPE_F32 && ta->ne[0] == 3 && ta->ne[1] == 2 && memcmp(ta->data, f32, 24) == 0);
    CHECK(tb && tb->type == SMELT_TYPE_Q8_0 && tb->offset == 64 && memcmp(tb->data, q8, 68) == 0);
    CHECK(smelt_gguf_data_offset(g) % 64 == 0);
    /* the last tensor is padded too (like llama.cpp and gguf-py) */
    CHECK(smelt_gguf_file_size(g) == smelt_gguf_data_offset(g) + 64 + 128);
    smelt_gguf_free(g);

    /* streamed writes: order, sizes, incomplete files never appear */
    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "a", SMELT_TYPE_F32, 2, ne_a, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "b", SMELT_TYPE_Q8_0, 2, ne_b, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_write_file(w, tmp_path("nodata.gguf")) == SMELT_ERR_INVALID_ARG);
    CHECK(strstr(smelt_last_error(), "no data") != NULL);
    const char *part = tmp_path("partial.gguf");
    CHECK(smelt_gguf_writer_open(w, part) == SMELT_OK);
    CHECK(exists(tmp_path("partial.gguf.tmp")));
    CHECK(smelt_gguf_writer_write_tensor(w, 1, q8, 68) == SMELT_ERR_INVALID_ARG); /* out of order */
    CHECK(strstr(smelt_last_error(), "order") != NULL);
    CHECK(smelt_gguf_writer_close(w) != SMELT_OK);
    smelt_gguf_writer_free(w);
    CHECK(!exists(part) && !exists(tmp_path("partial.gguf.tmp")));

    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "a", SMELT_TYPE_F32, 2, ne_a, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "b", SMELT_TYPE_Q8_0, 2, ne_b, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_open(w, part) == SMELT_OK);
    CHECK(smelt_gguf_writer_write_tensor(w, 0, f32, 20) == SMELT_ERR_INVALID_ARG); /* wrong size */
    CHECK(strstr(smelt_last_error(), "expected") != NULL);
    smelt_gguf_writer_free(w);
    CHECK(!exists(part) && !exists(tmp_path("partial.gguf.tmp")));

    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "a", SMELT_TYPE_F32, 2, ne_a, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_add_tensor(w, "b", SMELT_TYPE_Q8_0, 2, ne_b, NULL, NULL) == SMELT_OK);
    CHECK(smelt_gguf_writer_open(w, part) == SMELT_OK);
    CHECK(smelt_gguf_writer_write_tensor(w, 0, f32, 24) == SMELT_OK);
    CHECK(smelt_gguf_writer_close(w) == SMELT_ERR_INVALID_ARG); /* tensor b missing */
    CHECK(strstr(smelt_last_error(), "1 of 2") != NULL);
    smelt_gguf_writer_free(w);
    CHECK(!exists(part) && !exists(tmp_path("partial.gguf.tmp")));

    /* unwritable path: an IO error naming it */
    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_open(w, "/nonexistent-dir/x.gguf") == SMELT_ERR_IO);
    CHECK(strstr(smelt_last_error(), "/nonexistent-dir/x.gguf") != NULL);
    smelt_gguf_writer_free(w);

    /* bad alignment key */
    CHECK(smelt_gguf_writer_new(&w) == SMELT_OK);
    CHECK(smelt_gguf_writer_set_u32(w, "general.alignment", 48) == SMELT_OK);
    CHECK(smelt_gguf_writer_open(w, tmp_path("align.gguf")) == SMELT_ERR_INVALID_ARG);
    smelt_gguf_writer_free(w);
    CHECK(!exists(tmp_path("align.gguf")));
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "copyto") == 0) {
        if (argc != 4) return 2;
        return copy_file(argv[2], argv[3]) ? 1 : 0;
    }
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (argc == 2 && strcmp(argv[1], "api") == 0) {
        check_api();
    } else if (argc >= 3 && strcmp(argv[1], "copy") == 0) {
        for (int i = 2; i < argc; i++) {
            if (!exists(argv[i])) {
                fprintf(stderr, "%s is missing (run `smelt pull`)\n", argv[i]);
                check_failures++;
                continue;
            }
            const char *out = tmp_path("copy.gguf");
            CHECK(copy_file(argv[i], out) == SMELT_OK);
            CHECKF(same_bytes(argv[i], out), "copy of %s", argv[i]);
            unlink(out);
            if (!check_failures) printf("ok: %s copied byte-identically\n", argv[i]);
        }
    } else {
        fprintf(stderr, "usage: test_gguf_write api | copy FILE... | copyto IN OUT\n");
        return 2;
    }
    /* remove whatever the test left behind */
    unlink(tmp_path("api.gguf"));
    if (rmdir(g_dir) != 0) CHECKF(0, "%s was not empty at the end", g_dir);
    return CHECK_EXIT();
}
